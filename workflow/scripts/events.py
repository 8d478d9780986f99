"""Rule events: trajectories → one row per fact at risk of one event kind (SPEC §2)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.events import build_events  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    sel = snakemake.params.selection
    traj = read_tsv(snakemake.input[0], ["fact_id", "epoch", "correct", "split", "ontology"], dtype={"fact_id": str})
    table = build_events(
        traj,
        snakemake.wildcards.kind,
        splits=list(sel["splits"]),
        ontologies=None if sel["ontologies"] is None else list(sel["ontologies"]),
        m=int(snakemake.params.stable_epochs),
    )
    write_tsv(table, snakemake.output[0])
