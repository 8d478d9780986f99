"""Rule qvalues: Benjamini–Hochberg q-values across the Cox tables of every kind of a run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.multiple_testing import qvalue_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    table = qvalue_table({k: read_tsv(p) for k, p in zip(snakemake.params.kinds, snakemake.input)})
    write_tsv(table, snakemake.output[0])
    log.info("%d tests; %d with q < 0.05", len(table), int((table["q"] < 0.05).sum()))
