"""Rule epoch_sets: new / retained / forgotten / relearned facts, confident errors and loss per epoch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

import pandas as pd  # noqa: E402

from factsurv.analysis.epoch_sets import epoch_sets, train_losses  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    traj = read_tsv(snakemake.input.trajectories, ["fact_id", "epoch", "correct", "split"], dtype={"fact_id": str})
    evals = pd.concat([read_tsv(p, ["fact_id", "epoch", "correct"], dtype={"fact_id": str}) for p in snakemake.input.evals])
    table = epoch_sets(traj, evals, float(snakemake.params.confidence_threshold),
                       train_losses(snakemake.input.checkpoints))
    write_tsv(table, snakemake.output[0])
    best = table.drop_duplicates("split")[["split", "best_epoch"]].to_dict("records")
    log.info("best epoch per split: %s", best)
