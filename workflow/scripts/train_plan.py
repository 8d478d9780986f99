"""Rule train_plan: facts.tsv (+ the baseline probe when selecting by mastery) and the run's design
→ results/{run}/train_plan.tsv (src/factsurv/designs.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))
from factsurv.rules import rule_logging  # noqa: E402

with rule_logging(snakemake) as log:
    from factsurv.designs import describe_plan, plan_from_files
    from factsurv.io import write_tsv

    p = snakemake.params
    plan = plan_from_files(
        snakemake.input.facts,
        p.design,
        p.seed,
        p.schedule_epochs,
        p.ontology_names,
        probe_path=snakemake.input.get("probe") or None,
    )
    write_tsv(plan, snakemake.output[0])
    log.info("design %s:\n%s", p.design["strategy"], describe_plan(plan))
