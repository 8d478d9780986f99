"""Rule trajectories: facts, literature, probe and eval tables → one row per fact × epoch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.trajectories import trajectories_from_files  # noqa: E402
from factsurv.io import write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    table = trajectories_from_files(
        snakemake.input.facts,
        snakemake.input.literature,
        snakemake.input.baseline,
        list(snakemake.input.evals),
        epochs=int(snakemake.params.epochs),
        plan_path=snakemake.input.plan,
        exposure_path=snakemake.input.get("exposure") or None,
    )
    write_tsv(table, snakemake.output[0])
    log.info("%d rows", len(table))
