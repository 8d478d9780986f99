"""Rule cox: univariable and multivariable Cox models of one event kind, convergence checked."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings, cox_table  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    events = read_tsv(snakemake.input[0], ["fact_id", "duration", "event"], dtype={"fact_id": str})
    settings = CoxSettings.from_config(dict(snakemake.params.cox))
    kind = snakemake.params.kind
    table, problems = cox_table(
        events,
        settings,
        extra_covariates=list(kind["extra_covariates"]),
        subsets={k: list(v) for k, v in dict(kind["subsets"]).items()},
    )
    write_tsv(table, snakemake.output[0])
    log.info("%d rows; %d models not converged", len(table), len(problems))
