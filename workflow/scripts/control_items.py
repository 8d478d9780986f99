"""Rule control_items: the out-of-domain control items of every run (arithmetic, multiple choice)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.control import control_items
    from factsurv.io import write_tsv

    items = control_items(dict(snakemake.params.control))
    write_tsv(items, snakemake.output[0])
    log.info("%d control items: %s", len(items), items["kind"].value_counts().sort_index().to_dict())
