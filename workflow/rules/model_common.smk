# Helpers of the model stage (included by model.smk): base-model input, params, targets.


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


RUN_TARGETS.append("results/{run}/probe/baseline.tsv")
RUN_TARGETS.append(eval_tables)  # the number of epochs differs between runs
