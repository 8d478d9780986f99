# The out-of-domain control probe: after every epoch (0: the base model), greedy answers
# to general items that the facts do not train (arithmetic; multiple choice from a local file),
# their accuracy per epoch and a figure (drawn by rule figures, analysis.smk). config `control:`;
# control.enabled: false drops it all. Epoch 0 (the untouched model) is probed once per model at
# model scope (results/models/{model}/control_{key}/, like the epoch-0 eval) and copied into each run.


include: "control_common.smk"


localrules:
    run_baseline_control,


rule control_items:
    input:
        control_item_inputs,
    output:
        "results/control/items.tsv",
    log:
        "logs/control/control_items.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        control=control_settings(),
    script:
        "../scripts/control_items.py"


rule control_base_model:
    input:
        control_items="results/control/items.tsv",
        base=model_scope_base_input("control"),
    output:
        "results/models/{model}/control_{key}/epoch_{epoch}.tsv",
    log:
        "logs/models/{model}/control_{key}/control_epoch_{epoch}.log",
    benchmark:
        "benchmarks/models/{model}/control_{key}/control_epoch_{epoch}.tsv"
    wildcard_constraints:
        key="[0-9a-f]{8}",
        epoch="0",
    conda:
        "../../envs/model.yaml"
    threads: base_resource("control", "cpus")
    resources:
        gpu=base_resource("control", "gpu"),
        mem_mb=base_resource("control", "mem_mb"),
        runtime=base_runtime("control", "control_base_model"),
    params:
        model=model_scope_spec("control"),
        batch_size=config["control"]["batch_size"],
        max_new_tokens=config["control"]["max_new_tokens"],
        threads=base_setting("control", "threads"),
        prompt=control_prompt_params(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/control_epoch.py"


# The run's view of the model-scope control table of epoch 0 (a byte copy, as run_baseline_tables).
rule run_baseline_control:
    input:
        lambda wildcards: model_control_table(wildcards.run),
    output:
        "results/{run}/control/epoch_0.tsv",
    log:
        "logs/{run}/run_baseline_control.log",
    conda:
        "../../envs/analysis.yaml"
    shell:
        "(cp {input} {output} && echo 'copied {input}') > {log} 2>&1"


rule control_epoch:
    input:
        control_items="results/control/items.tsv",
        base=run_base_input,
        checkpoint=eval_checkpoint,
    output:
        "results/{run}/control/epoch_{epoch}.tsv",
    log:
        "logs/{run}/control_epoch_{epoch}.log",
    benchmark:
        "benchmarks/{run}/control_epoch_{epoch}.tsv"
    wildcard_constraints:
        epoch=r"[1-9]\d*",  # epoch 0 (the untouched model) is probed at model scope
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_runtime("control_epoch"),
    params:
        model=model_params,
        batch_size=config["control"]["batch_size"],
        max_new_tokens=config["control"]["max_new_tokens"],
        threads=run_setting("threads"),
        prompt=control_prompt_params(),
        prefixes=ontology_prefixes(),  # generation stops once an identifier is complete
    script:
        "../scripts/control_epoch.py"


rule control_accuracy:
    input:
        control_items="results/control/items.tsv",
        tables=lambda wildcards: control_tables(wildcards.run),
    output:
        "results/{run}/analysis/control.tsv",
    log:
        "logs/{run}/analysis/control.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/control_accuracy.py"
