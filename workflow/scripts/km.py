"""Rule km: Kaplan–Meier curves and log-rank tests of every event kind by the configured groups."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.km import km_tables  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    kinds = list(snakemake.params.kinds)
    for kind, km_path, logrank_path in zip(kinds, snakemake.output.km, snakemake.output.logrank):
        events = read_tsv(snakemake.input[kind], ["fact_id", "duration", "event"], dtype={"fact_id": str})
        km, logrank = km_tables(events, list(snakemake.params.group_by[kind]))
        write_tsv(km, km_path)
        write_tsv(logrank, logrank_path)
        for row in logrank.itertuples():
            log.info("%s: log-rank by %s (%s): chi2=%s p=%s %s", kind, row.group_var, row.groups, row.test_statistic,
                     row.p, row.note)
