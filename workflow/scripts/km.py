"""Rule km: Kaplan–Meier curves and log-rank tests of one event kind by the configured groups."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.km import km_tables  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    events = read_tsv(snakemake.input[0], ["fact_id", "duration", "event"], dtype={"fact_id": str})
    km, logrank = km_tables(events, list(snakemake.params.group_by))
    write_tsv(km, snakemake.output.km)
    write_tsv(logrank, snakemake.output.logrank)
    for row in logrank.itertuples():
        log.info("log-rank by %s (%s): chi2=%s p=%s %s", row.group_var, row.groups, row.test_statistic, row.p, row.note)
