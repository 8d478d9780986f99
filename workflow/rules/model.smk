# The model stage of every run: baseline probe, one training job per epoch, one eval job per epoch.
# Settings reach the jobs only through params, so changing one re-runs only what depends on it:
# `epochs` is not a param of train_epoch (the LR schedule spans training.schedule_epochs).


def canonical(value):
    """Dicts with sorted keys (recursively), so that params compare equal whatever the key order
    in the config file (Snakemake compares params by their text)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def run_setting(key):
    return lambda wildcards: canonical(run_config(wildcards.run)[key])


def run_model_name(run):
    return run_config(run)["model"]


def base_model_input(wildcards):
    """The base model folder a run's jobs read: demo → the pretrained model the workflow builds;
    path → the folder; hf → nothing (the id goes through params)."""
    name = run_model_name(wildcards.run)
    spec = model_config(name)
    if spec["source"] == "demo":
        return f"results/models/{name}/pretrained"
    if spec["source"] == "path":
        return spec["name_or_path"]
    return []


def model_params(wildcards):
    """The model spec without the demo's build settings (those reach the model via its files)."""
    spec = model_config(run_model_name(wildcards.run))
    return canonical({k: v for k, v in spec.items() if k != "demo"})


def prompt_params():
    return canonical(dict(config["prompt"]))


def ontology_names():
    return canonical({onto: ontology(onto)["name"] for onto in ONTOLOGIES})


def ontology_prefixes():
    return canonical({onto: ontology(onto)["prefix"] for onto in ONTOLOGIES})


def run_resource(key):
    return lambda wildcards: run_config(wildcards.run)["resources"][key]


def previous_checkpoint(wildcards):
    epoch = int(wildcards.epoch)
    if epoch <= 1:
        return []
    return f"results/{wildcards.run}/checkpoints/epoch_{epoch - 1}"


def eval_checkpoint(wildcards):
    epoch = int(wildcards.epoch)
    if epoch == 0:
        return []
    return f"results/{wildcards.run}/checkpoints/epoch_{epoch}"


def eval_tables(run):
    """results/{run}/eval/epoch_{e}.tsv for e = 0..epochs (what the analysis reads)."""
    return [
        f"results/{run}/eval/epoch_{e}.tsv"
        for e in range(0, run_config(run)["epochs"] + 1)
    ]


class _EvalTables:
    """A RUN_TARGETS entry whose ``format(run=...)`` gives that run's eval tables (a list, which
    Snakemake flattens), since the number of epochs differs between runs."""

    def format(self, run):
        return eval_tables(run)


RUN_TARGETS.append("results/{run}/probe/baseline.tsv")
RUN_TARGETS.append(_EvalTables())


rule probe_baseline:
    input:
        facts="results/facts/facts.tsv",
        base=base_model_input,
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
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/probe_baseline.py"


rule train_epoch:
    input:
        facts="results/facts/facts.tsv",
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
        prompt=prompt_params(),
        ontology_names=ontology_names(),
        prefixes=ontology_prefixes(),
    script:
        "../scripts/eval_epoch.py"
