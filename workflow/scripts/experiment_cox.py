"""Rule experiment_cox: the joint Cox model of one kind (grid factors as covariates, strata, SEs
clustered by fact) and HR(latent) per condition."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from factsurv.analysis.cox import CoxSettings  # noqa: E402
from factsurv.analysis.joint import joint_cox  # noqa: E402
from factsurv.io import read_tsv, write_tsv  # noqa: E402
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    events = read_tsv(snakemake.input[0], ["run", "model", "seed", "design", "fact_id", "duration", "event"],
                      dtype={"fact_id": str, "run": str, "model": str, "design": str})
    a = dict(snakemake.params.analysis)
    levels = {k: list(v) for k, v in dict(snakemake.params.levels).items()}
    table = joint_cox(
        events,
        snakemake.wildcards.kind,
        covariates=list(a["covariates"]),
        factors=list(a["factors"]),
        strata=list(a["strata"]),
        cluster_by_fact=bool(a["cluster_by_fact"]),
        settings=CoxSettings.from_params(dict(snakemake.params.cox)),
        levels=levels,
    )
    write_tsv(table, snakemake.output[0])
    log.info("%d rows; %d not converged", len(table), int((~table["converged"].astype(bool)).sum()))
