"""Rule experiment_tables: the runs' trajectories and events stacked, with run, model, seed, design."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.joint import stack  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    cells = [dict(c) for c in snakemake.params.cells]
    kinds = list(snakemake.params.kinds)
    traj = [(c, read_tsv(p, ["fact_id", "epoch", "correct"], dtype={"fact_id": str}))
            for c, p in zip(cells, snakemake.input.trajectories)]
    write_tsv(stack(traj), snakemake.output.trajectories)
    events = list(snakemake.input.events)
    for i, kind in enumerate(kinds):
        paths = events[i * len(cells):(i + 1) * len(cells)]
        assert all(f"events_{kind}.tsv" in p for p in paths), paths
        tables = [(c, read_tsv(p, ["fact_id", "duration", "event"], dtype={"fact_id": str}))
                  for c, p in zip(cells, paths)]
        table = stack(tables)
        write_tsv(table, snakemake.output.events[i])
        log.info("%s: %d rows from %d runs", kind, len(table), len(cells))
