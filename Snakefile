# factsurv: fine-tune a language model epoch by epoch on ontology facts, evaluate it after every
# epoch, and analyse when each fact is acquired, generalized or lost with survival models.
# Plan: snakemake -n    Run: snakemake --cores all    On Slurm: snakemake --profile profiles/slurm


from snakemake.utils import min_version

min_version("9.0")


# The default (offline demo) config applies only when no --configfile is given: a config file on
# the command line (config/study.yaml, a test config) replaces it whole. Snakemake would otherwise
# merge the two and add the demo's run to every study.
if not workflow.overwrite_configfiles:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(workflow.basedir) / "src"))
    from factsurv.config import config_file_problem

    # one line naming the file, not Snakemake's message that names none
    if _problem := config_file_problem("config/config.yaml"):
        raise WorkflowError(_problem)

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Wildcards match configured names only (helpers in common.smk).
wildcard_constraints:
    onto=_alternatives(ONTOLOGIES),
    run=_alternatives(RUNS),
    model=_alternatives(MODELS),
    experiment=_alternatives(sorted(EXPERIMENTS)),
    epoch=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/demo_model.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/model_source.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/exposure.smk"
include: "workflow/rules/control.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/learning_dynamics.smk"
include: "workflow/rules/parameters.smk"


rule all:
    default_target: True
    input:
        final_targets(),
