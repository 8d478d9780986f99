"""Rule paper_comparison: the paper's headline numbers next to this run's summary."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.paper import paper_comparison  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    summary = read_tsv(snakemake.input[0], ["metric", "group", "value", "lower_95", "upper_95", "p"])
    table = paper_comparison(summary, hr_model=snakemake.params.hr_model)
    write_tsv(table, snakemake.output[0])
    for r in table.itertuples():
        log.info("%s: paper %s, run %.4g -> %s", r.claim, r.paper, r.run, r.agrees)
