"""Rule events: trajectories → one row per fact at risk of each event kind (SPEC §2), one table per kind."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.events import build_events  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    traj = read_tsv(snakemake.input[0], ["fact_id", "epoch", "correct", "split", "ontology"], dtype={"fact_id": str})
    for kind, sel in dict(snakemake.params.selection).items():
        table = build_events(
            traj,
            kind,
            splits=list(sel["splits"]),
            ontologies=None if sel["ontologies"] is None else list(sel["ontologies"]),
            m=int(snakemake.params.stable_epochs),
        )
        write_tsv(table, snakemake.output[kind])
        log.info("%s: %d facts at risk, %d events", kind, len(table), int(table["event"].sum()) if len(table) else 0)
