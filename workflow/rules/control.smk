# The out-of-domain control probe (issue 13): after every epoch (0: the base model), greedy answers
# to general items that the facts do not train (arithmetic; multiple choice from a local file),
# their accuracy per epoch and a figure (drawn by rule figures, analysis.smk). config `control:`;
# control.enabled: false drops it all.


include: "control_common.smk"


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


rule control_epoch:
    input:
        control_items="results/control/items.tsv",
        base=base_model_input,
        checkpoint=eval_checkpoint,
    output:
        "results/{run}/control/epoch_{epoch}.tsv",
    log:
        "logs/{run}/control_epoch_{epoch}.log",
    benchmark:
        "benchmarks/{run}/control_epoch_{epoch}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: run_resource("cpus")
    resources:
        gpu=run_resource("gpu"),
        mem_mb=run_resource("mem_mb"),
        runtime=run_resource("runtime"),
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
