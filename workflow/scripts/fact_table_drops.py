"""Rule fact_table_drops: the rows of the user's fact tables that table_facts dropped, per table
and reason (from facts_table_report.tsv)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.data.fact_table import drop_counts  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402
from factsurv.tables import FACT_TABLE_REPORT_COLUMNS  # noqa: E402

with rule_logging(snakemake) as log:
    report = read_tsv(snakemake.input[0], list(FACT_TABLE_REPORT_COLUMNS))
    drops = drop_counts(report)
    for d in drops.itertuples(index=False):
        log.info("%s: %d row(s) dropped (%s): %s", d.table, d.rows, d.issue, d.lines)
    if drops.empty:
        log.info("no row of the fact tables was dropped")
    write_tsv(drops, snakemake.output[0])
