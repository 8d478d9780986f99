# The model stage: at model scope (results/models/{model}/) the evaluation of the untouched model
# (epoch 0) and the baseline probe, shared by the runs on it; per run one training job and one eval
# job per epoch.
# Settings reach the jobs only through params, so changing one re-runs only what depends on it:
# `epochs` is not a param of train_epoch (the LR schedule spans training.schedule_epochs).


include: "model_common.smk"


localrules:
    run_baseline_tables,


rule eval_base_model:
    input:
        facts="results/facts/facts.tsv",
        base=model_scope_base_input("eval"),
    output:
        "results/models/{model}/eval_{key}/epoch_{epoch}.tsv",
    log:
        "logs/models/{model}/eval_{key}/eval_epoch_{epoch}.log",
    benchmark:
        "benchmarks/models/{model}/eval_{key}/eval_epoch_{epoch}.tsv"
    wildcard_constraints:
        key="[0-9a-f]{8}",
        epoch="0",
    conda:
        "../../envs/model.yaml"
    threads: base_resource("eval", "cpus")
    resources:
        gpu=base_resource("eval", "gpu"),
        mem_mb=base_resource("eval", "mem_mb"),
        runtime=base_runtime("eval", "eval_base_model"),
    params:
        model=model_scope_spec("eval"),
        eval=base_setting("eval", "eval"),
        threads=base_setting("eval", "threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/eval_epoch.py"


rule probe_baseline:
    input:
        facts="results/facts/facts.tsv",
        base=model_scope_base_input("probe"),
        greedy=lambda wildcards: model_eval_table(base_run("probe", wildcards)),
    output:
        "results/models/{model}/probe_{key}/baseline.tsv",
    log:
        "logs/models/{model}/probe_{key}/probe_baseline.log",
    benchmark:
        "benchmarks/models/{model}/probe_{key}/probe_baseline.tsv"
    wildcard_constraints:
        key="[0-9a-f]{8}",
    conda:
        "../../envs/model.yaml"
    threads: base_resource("probe", "cpus")
    resources:
        gpu=base_resource("probe", "gpu"),
        mem_mb=base_resource("probe", "mem_mb"),
        runtime=base_runtime("probe", "probe_baseline"),
    params:
        model=model_scope_spec("probe"),
        probe=base_setting("probe", "probe"),
        threads=base_setting("probe", "threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/probe_baseline.py"


# The run's view of the model-scope tables (byte copies, so that every reader of a run's folder,
# results/{run}/probe/baseline.tsv and eval/epoch_0.tsv, finds them there): one cheap local job.
rule run_baseline_tables:
    input:
        probe=lambda wildcards: model_probe_table(wildcards.run),
        greedy=lambda wildcards: model_eval_table(wildcards.run),
    output:
        probe="results/{run}/probe/baseline.tsv",
        greedy="results/{run}/eval/epoch_0.tsv",
    log:
        "logs/{run}/run_baseline_tables.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "(cp {input.probe} {output.probe} && cp {input.greedy} {output.greedy}"
        " && echo 'copied {input.probe} and {input.greedy}') > {log} 2>&1"


rule train_epoch:
    input:
        facts="results/facts/facts.tsv",
        plan="results/{run}/train_plan.tsv",
        base=run_base_input,
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
        runtime=run_runtime("train_epoch"),
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
        base=run_base_input,
        checkpoint=eval_checkpoint,
    output:
        "results/{run}/eval/epoch_{epoch}.tsv",
    log:
        "logs/{run}/eval_epoch_{epoch}.log",
    benchmark:
        "benchmarks/{run}/eval_epoch_{epoch}.tsv"
    wildcard_constraints:
        epoch=r"[1-9]\d*",  # epoch 0 (the untouched model) is evaluated at model scope
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("eval_epoch"),
    params:
        model=model_params,
        eval=run_setting("eval"),
        threads=run_setting("threads"),
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/eval_epoch.py"
