"""Rule control_accuracy: out-of-domain accuracy per item kind and epoch."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.control_accuracy import control_accuracy_from_files  # noqa: E402
from factsurv.io import write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    table = control_accuracy_from_files(snakemake.input.control_items, list(snakemake.input.tables))
    write_tsv(table, snakemake.output[0])
    for kind, g in table.groupby("kind"):
        log.info("%s accuracy by epoch: %s", kind, dict(zip(g["epoch"], g["accuracy"].round(4))))
