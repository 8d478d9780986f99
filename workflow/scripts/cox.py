"""Rule cox: univariable and multivariable Cox models of every event kind, convergence checked, and
the Benjamini–Hochberg q-values across them (qvalues.tsv)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings, cox_table  # noqa: E402
from factsurv.analysis.multiple_testing import qvalue_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    settings = CoxSettings.from_params(dict(snakemake.params.cox))
    tables = {}
    for kind, spec in dict(snakemake.params.kinds).items():
        events = read_tsv(snakemake.input[kind], ["fact_id", "duration", "event"], dtype={"fact_id": str})
        table, problems = cox_table(
            events,
            settings,
            extra_covariates=list(spec["extra_covariates"]),
            subsets={k: list(v) for k, v in dict(spec["subsets"]).items()},
        )
        write_tsv(table, snakemake.output[kind])
        log.info("%s: %d rows; %d models not converged", kind, len(table), len(problems))
        tables[kind] = read_tsv(snakemake.output[kind])  # as the q-values read it (types from the file)
    qvalues = qvalue_table(tables)
    write_tsv(qvalues, snakemake.output.qvalues)
    log.info("q-values: %d tests; %d with q < 0.05", len(qvalues), int((qvalues["q"] < 0.05).sum()))
