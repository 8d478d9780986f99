"""Rule experiment_curves: acquisition curves per condition with bands across seeds; degradation of
seen vs unseen facts per design."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.joint import acquisition_curves, degradation_by_design  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

COLS = ["run", "model", "seed", "design", "fact_id", "duration", "event"]
DTYPE = {"fact_id": str, "run": str, "model": str, "design": str}

with rule_logging(snakemake) as log:
    acq = read_tsv(snakemake.input.acquisition, COLS, dtype=DTYPE)
    write_tsv(acquisition_curves(acq, int(snakemake.params.epochs)), snakemake.output.curves)
    deg = read_tsv(snakemake.input.degradation, [*COLS, "seen"], dtype=DTYPE)
    write_tsv(degradation_by_design(deg), snakemake.output.degradation)
