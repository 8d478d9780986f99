"""Rule dynamics: per-epoch newly acquired share, peak and convergence epoch per group."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.dynamics import dynamics_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    events = {
        kind: read_tsv(path, ["fact_id", "duration", "event"], dtype={"fact_id": str})
        for kind, path in zip(snakemake.params.kinds, snakemake.input.events)
    }
    table = dynamics_table(
        events,
        group_by=snakemake.params.group_by,
        convergence_share=float(snakemake.params.convergence_share),
        bootstrap=int(snakemake.params.bootstrap),
        seed=int(snakemake.params.seed),
    )
    write_tsv(table, snakemake.output[0])
