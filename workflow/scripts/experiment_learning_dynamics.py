"""Rule experiment_learning_dynamics: the runs' consolidation facts pooled (run as the cluster), and
their loss-vs-recall and stopping tables stacked (factsurv.analysis.consolidation; docs/consolidation.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    import pandas as pd

    from factsurv.analysis.consolidation import pooled_consolidation
    from factsurv.io import read_tsv, write_tsv
    from factsurv.tables import LOSS_RECALL_COLUMNS, RUN_COLUMNS, STOPPING_COLUMNS

    cells = [dict(c) for c in snakemake.params.cells]

    def stacked(paths, required=()):
        parts = []
        for cell, path in zip(cells, paths):
            t = read_tsv(path, required, dtype={"fact_id": str})
            for i, col in enumerate(RUN_COLUMNS):
                t.insert(i, col, cell[col])
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    facts = stacked(snakemake.input.facts, ["kind", "fact_id", "acquired", "baseline_correct"])
    write_tsv(pooled_consolidation(facts, dict(snakemake.params.cox)), snakemake.output.consolidation)
    write_tsv(stacked(snakemake.input.loss_recall, LOSS_RECALL_COLUMNS), snakemake.output.loss_recall)
    write_tsv(stacked(snakemake.input.stopping, STOPPING_COLUMNS), snakemake.output.stopping)
    log.info("%d runs, %d fact rows pooled", len(cells), len(facts))
