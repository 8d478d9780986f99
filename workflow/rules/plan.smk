# The training plan of every run: which fact, in which format, how often, in which epoch
# (src/factsurv/designs.py). Its params are the run's design, seed and schedule_epochs (the plan
# spans the schedule, so raising `epochs` re-plans nothing); changing one run's design re-plans
# that run only.


rule train_plan:
    input:
        facts="results/facts/facts.tsv",
        probe=plan_probe_input,
    output:
        "results/{run}/train_plan.tsv",
    log:
        "logs/{run}/train_plan.log",
    conda:
        "../../envs/model.yaml"
    params:
        design=run_setting("design"),
        seed=run_setting("seed"),
        schedule_epochs=lambda wildcards: run_config(wildcards.run)["training"][
            "schedule_epochs"
        ],
        ontology_names=ontology_names(),
    script:
        "../scripts/train_plan.py"
