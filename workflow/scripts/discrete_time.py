"""Rule discrete_time: cloglog models on fact × epoch data next to the Cox estimates of one kind."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings  # noqa: E402
from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table, exposure_matrix  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    events = read_tsv(snakemake.input.events, ["fact_id", "duration", "event"], dtype={"fact_id": str})
    kind = snakemake.params.kind
    trajectories = snakemake.input.get("trajectories")
    exposure = exposure_matrix(read_tsv(trajectories, ["fact_id", "epoch"], dtype={"fact_id": str})) if trajectories else None
    table, problems = cloglog_table(
        events,
        CoxSettings.from_config(dict(snakemake.params.cox)),
        DiscreteTimeSettings.from_config(dict(snakemake.params.discrete_time)),
        cox=read_tsv(snakemake.input.cox),
        extra_covariates=list(kind["extra_covariates"]),
        subsets={k: list(v) for k, v in dict(kind["subsets"]).items()},
        exposure=exposure,
    )
    write_tsv(table, snakemake.output[0])
    log.info("%d rows; %d models not converged", len(table), len(problems))
