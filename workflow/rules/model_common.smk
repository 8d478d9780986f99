# Helpers of the model stage (included by model.smk): base-model input, params, targets.
from factsurv.experiments import base_control_key, base_quantization
from factsurv.runtimes import rule_runtime


def per_run(value_of):
    """A rule's setting that may differ between runs (``value_of(run)``): the value itself when
    every run has the same one, else a function of the wildcards. Snakemake evaluates a function
    for each job (thousands in an experiment, each with a signature inspection); a plain value
    costs nothing per job and gives the job the same params. Strings and lists stay functions
    (Snakemake would format the {wildcards} in a plain one)."""
    values = [value_of(run) for run in RUNS]
    if values and all(v == values[0] for v in values[1:]):
        if not isinstance(values[0], (str, list)):
            return values[0]
    return lambda wildcards: value_of(wildcards.run)


def run_setting(key):
    return per_run(lambda run: canonical(run_config(run)[key]))


def run_model_name(run):
    return run_config(run)["model"]


def nf4_folder(name):
    """The 4-bit NF4 base of a model that QLoRA runs train on (rule quantize_base)."""
    return f"results/models/{name}/nf4"


def run_base_input(wildcards):
    """The base model folder a run's jobs read: model_folder, or for a QLoRA run the NF4 base
    saved once per model (quantize_base)."""
    name = run_model_name(wildcards.run)
    if run_config(wildcards.run)["training"]["method"] == "qlora":
        return nf4_folder(name)
    return model_folder(name)


def model_scope_base_input(which):
    """The base model folder of a model-scope job (wildcard {model}): the NF4 base when the runs
    it stands for train with QLoRA (their epoch 0 is scored on the base they train on).
    """

    def base(wildcards):
        if base_quantization(run_config(base_run(which, wildcards))) == "nf4":
            return nf4_folder(wildcards.model)
        return model_folder(wildcards.model)

    return base


# model → the first QLoRA run (by name) on it: its resources serve quantize_base
QLORA_RUN = {}
for _run in RUNS:
    if run_config(_run)["training"]["method"] == "qlora":
        QLORA_RUN.setdefault(run_model_name(_run), _run)


def quantize_resource(key):
    return lambda wildcards: run_config(QLORA_RUN[wildcards.model])["resources"][key]


def quantize_runtime(rule):
    return lambda wildcards: rule_runtime(run_config(QLORA_RUN[wildcards.model]), rule)


def model_folder(name):
    """The base model folder of a model: demo → the pretrained model the workflow builds; wheel and
    gguf → the folder convert_model writes; path → the folder; hf → nothing (the id goes through
    params)."""
    spec = model_config(name)
    if spec["source"] == "demo":
        return f"results/models/{name}/pretrained"
    if spec["source"] in ("wheel", "gguf"):
        return f"results/models/{name}/hf"
    if spec["source"] == "exposure":
        return f"results/models/{name}/exposed"
    if spec["source"] == "path":
        return spec["name_or_path"]
    return []


def gguf_model_file(wildcards):
    """convert_model's input: the local GGUF file of a `source: gguf` model (so that replacing it
    re-runs the conversion); nothing for a wheel (its name and member are params)."""
    spec = model_config(wildcards.model)
    return [spec["path"]] if spec["source"] == "gguf" else []


def model_spec_params(name):
    spec = model_config(name)
    return canonical({k: v for k, v in spec.items() if k not in ("demo", "exposure")})


# The model spec without the demo's build settings or an exposure's corpus and pretraining (those
# reach the model via its files).
model_params = per_run(lambda run: model_spec_params(run_model_name(run)))


# Model scope: the epoch-0 evaluation, the probe and the epoch-0 control probe of a base model are
# shared by every run on that model with the same settings, under results/models/{model}/eval_{key}/,
# probe_{key}/ and control_{key}/, key = a short hash of those settings (factsurv.experiments:
# base_keys, base_control_key); a run whose settings differ gets its own key. Training settings and
# seeds are not part of the key, except what changes the base model itself: a QLoRA run's epoch 0
# runs on the NF4 base (base_quantization), under its own key.
BASE_KEYS = base_keys(config["runs"])
CONTROL_KEYS = {_run: base_control_key(run_config(_run)) for _run in RUNS}
# "eval" | "probe" | "control" → (model, key) → the first run (by name) with that key: its settings
# and resources serve the model-scope job.
BASE_RUN = {"eval": {}, "probe": {}, "control": {}}
for _run in RUNS:
    for _which, _key in zip(("eval", "probe"), BASE_KEYS[_run]):
        BASE_RUN[_which].setdefault((run_model_name(_run), _key), _run)
    BASE_RUN["control"].setdefault((run_model_name(_run), CONTROL_KEYS[_run]), _run)


def model_eval_table(run):
    """The model-scope eval table of epoch 0 (the untouched base model) that a run reads."""
    return f"results/models/{run_model_name(run)}/eval_{BASE_KEYS[run][0]}/epoch_0.tsv"


def model_probe_table(run):
    """The model-scope probe table that a run reads."""
    return (
        f"results/models/{run_model_name(run)}/probe_{BASE_KEYS[run][1]}/baseline.tsv"
    )


def base_run(which, wildcards):
    """The run that stands for a model-scope job (all runs with its key share its settings)."""
    return BASE_RUN[which][(wildcards.model, wildcards.key)]


def model_scope_spec(which):
    """The model spec of a model-scope job: the model's, plus ``quantization: nf4`` when the runs
    it stands for train with QLoRA (their epoch 0 is scored on the NF4 base they train on).
    """

    def spec(wildcards):
        params = model_spec_params(wildcards.model)
        quantization = base_quantization(run_config(base_run(which, wildcards)))
        if quantization is None:
            return params
        return canonical({**params, "quantization": quantization})

    return spec


def base_setting(which, key):
    """A setting of the run that stands for a model-scope job."""
    return lambda wildcards: canonical(run_config(base_run(which, wildcards))[key])


def base_resource(which, key):
    return lambda wildcards: run_config(base_run(which, wildcards))["resources"][key]


def base_runtime(which, rule):
    return lambda wildcards: rule_runtime(run_config(base_run(which, wildcards)), rule)


def prompt_params():
    return canonical(dict(config["prompt"]))


def ontology_names():
    return canonical({onto: ontology(onto)["name"] for onto in ONTOLOGIES})


def ontology_prefixes():
    return canonical({onto: ontology(onto)["prefix"] for onto in ONTOLOGIES})


def run_resource(key):
    return per_run(lambda run: run_config(run)["resources"][key])


def run_runtime(rule):
    """Minutes of a GPU rule's jobs: the run's resources.runtime_by_rule[rule], else its runtime."""
    return per_run(lambda run: rule_runtime(run_config(run), rule))


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


def model_targets(run):
    """The run's probe and eval tables in the default target (the number of epochs differs
    between runs)."""
    return [f"results/{run}/probe/baseline.tsv", *eval_tables(run)]


def plan_probe_input(wildcards):
    """The baseline probe, only for a design that selects facts by mastery."""
    if run_config(wildcards.run)["design"]["select"]["mastery"] is None:
        return []
    return f"results/{wildcards.run}/probe/baseline.tsv"


# Controlled prior exposure (exposure.smk): models with `source: exposure`, their base, the
# settings of the corpus and of the continued pretraining, and the resources of the first run on
# the model (an 8B model's continued pretraining runs where its fine-tuning runs). A base that is
# not another configured model stops the pre-flight (factsurv.preflight.name_errors).
EXPOSURE_TABLES = {
    "assignment": "results/models/{model}/exposure/assignment.tsv",
    "documents": "results/models/{model}/exposure/documents.tsv",
    "corpus": "results/models/{model}/exposure/corpus.txt",
}
# model → the first run (by name) on it: its resources serve expose_model
EXPOSURE_RUN = {}
for _run in RUNS:
    EXPOSURE_RUN.setdefault(run_model_name(_run), _run)


def exposure_settings(model):
    """models.<model>.exposure without its pretrain block (the corpus's settings)."""
    return canonical(
        {k: v for k, v in model_config(model)["exposure"].items() if k != "pretrain"}
    )


def exposure_pretrain(model):
    return canonical(model_config(model)["exposure"]["pretrain"])


def exposure_resource(key):
    return lambda wildcards: run_config(EXPOSURE_RUN[wildcards.model])["resources"][key]


def exposure_runtime(rule):
    return lambda wildcards: rule_runtime(
        run_config(EXPOSURE_RUN[wildcards.model]), rule
    )


def model_exposure_table(name):
    """The exposure assignment of a model (its randomized doses), or nothing for other models."""
    if model_config(name)["source"] == "exposure":
        return EXPOSURE_TABLES["assignment"].format(model=name)
    return []


def exposure_targets(run):
    """The exposure analysis of a run whose model was given controlled prior exposure."""
    if model_config(run_model_name(run))["source"] != "exposure":
        return []
    return [
        f"results/{run}/analysis/exposure_effect.tsv",
        *[f"results/{run}/figures/exposure.{ext}" for ext in FIGURE_FORMATS],
    ]


def run_exposure_effect(run):
    """paper_comparison's exposure input: the run's exposure_effect.tsv, or nothing."""
    targets = exposure_targets(run)
    return targets[0] if targets else []
