# The model stage of every run: baseline probe, one training job per epoch, one eval job per epoch.
# Settings reach the jobs only through params, so changing one re-runs only what depends on it:
# `epochs` is not a param of train_epoch (the LR schedule spans training.schedule_epochs).


include: "model_common.smk"


rule probe_baseline:
    input:
        facts="results/facts/facts.tsv",
        base=base_model_input,
        greedy="results/{run}/eval/epoch_0.tsv",
    output:
        "results/{run}/probe/baseline.tsv",
    log:
        "logs/{run}/probe_baseline.log",
    benchmark:
        "benchmarks/{run}/probe_baseline.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_resource("runtime"),
    params:
        model=model_params,
        probe=run_setting("probe"),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/probe_baseline.py"


rule train_epoch:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=base_model_input,
        previous=previous_checkpoint,
    output:
        directory("results/{run}/checkpoints/epoch_{epoch}"),
    log:
        "logs/{run}/train_epoch_{epoch}.log",
    benchmark:
        "benchmarks/{run}/train_epoch_{epoch}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_resource("runtime"),
    params:
        model=model_params,
        training=run_setting("training"),
        seed=run_setting("seed"),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/train_epoch.py"


rule eval_epoch:
    input:
        facts="results/facts/facts.tsv",
        base=base_model_input,
        checkpoint=eval_checkpoint,
    output:
        "results/{run}/eval/epoch_{epoch}.tsv",
    log:
        "logs/{run}/eval_epoch_{epoch}.log",
    benchmark:
        "benchmarks/{run}/eval_epoch_{epoch}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_resource("runtime"),
    params:
        model=model_params,
        eval=run_setting("eval"),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/eval_epoch.py"
