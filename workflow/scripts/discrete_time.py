"""Rule discrete_time: cloglog models on fact × epoch data next to the Cox estimates, every kind."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings  # noqa: E402
from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table, exposure_matrix  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    settings = CoxSettings.from_params(dict(snakemake.params.cox))
    dt = DiscreteTimeSettings.from_params(dict(snakemake.params.discrete_time))
    trajectories = snakemake.input.get("trajectories")
    # exposures so far per fact x epoch (from the plan, via trajectories.tsv): the same for every kind
    exposure = exposure_matrix(read_tsv(trajectories, ["fact_id", "epoch"], dtype={"fact_id": str})) if trajectories else None
    kinds = list(snakemake.params.kinds)
    for kind, events_path, cox_path in zip(kinds, snakemake.input.events, snakemake.input.cox):
        events = read_tsv(events_path, ["fact_id", "duration", "event"], dtype={"fact_id": str})
        spec = snakemake.params.kind_settings[kind]
        table, problems = cloglog_table(
            events,
            settings,
            dt,
            cox=read_tsv(cox_path),
            extra_covariates=list(spec["extra_covariates"]),
            subsets={k: list(v) for k, v in dict(spec["subsets"]).items()},
            exposure=exposure,
        )
        write_tsv(table, snakemake.output[kind])
        log.info("%s: %d rows; %d models not converged", kind, len(table), len(problems))
