"""Rule forgetting: time to the first forgetting after acquisition, per stable_epochs m."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.forgetting import forgetting_curves, forgetting_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    traj = read_tsv(snakemake.input[0], dtype={"fact_id": str})
    table = forgetting_table(traj, dict(snakemake.params.selection), [int(m) for m in snakemake.params.stable_epochs])
    write_tsv(table, snakemake.output.events)
    write_tsv(forgetting_curves(table, int(traj["epoch"].max())), snakemake.output.curves)
