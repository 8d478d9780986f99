# Helpers shared by all the .smk files: configuration validation, names, input functions.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from factsurv.config import ConfigError, canonical, validate_config  # noqa: E402
from factsurv.experiments import base_keys, experiment_cells  # noqa: E402
from factsurv.preflight import checkpoint_errors, preflight  # noqa: E402
from snakemake.logging import logger  # noqa: E402

try:
    validate_config(
        config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None

# One canonical config (mappings in sorted key order; integral floats at integer keys are ints):
# every params derived from it compares equal whatever the key order in the file, 20 or 20.0.
_canonical = canonical(dict(config))
config.clear()
config.update(_canonical)

# The pre-flight (src/factsurv/preflight.py): what the config and a cheap look at the input files
# can tell, before the DAG is built and before any job (in the main process only: cluster jobs
# re-read the Snakefile).
if workflow.is_main_process:
    _report = preflight(
        config,
        workflow.configfiles,
        produced=[
            f"results/models/{name}/corpus.txt"
            for name, spec in config["models"].items()
            if spec["source"] == "demo"
        ],
    )
    if _report.errors:
        raise WorkflowError(
            "pre-flight found problems (nothing was run):\n  "
            + "\n  ".join(_report.errors)
        )
    for _warning in _report.warnings():
        logger.warning(_warning)


#: the rules that load a checkpoint's weights (the analysis reads only its checkpoint.json stats)
WEIGHT_READERS = {
    "train_epoch",
    "eval_epoch",
    "control_epoch",
    "param_updates",
    "restore_updates",
    "gradient_trace",
    "attention_mass",
}


def checkpoints_read_by_planned_jobs():
    """(checkpoint folders whose weights the planned jobs load, outputs of the planned jobs)."""
    jobs = list(workflow.dag.needrun_jobs())
    read = [
        str(f)
        for job in jobs
        if job.rule.name in WEIGHT_READERS
        for f in job.input
        if re.fullmatch(r"results/[^/]+/checkpoints/epoch_\d+", str(f))
    ]
    return read, [str(f) for job in jobs for f in job.output]


# Snakemake calls onstart after the plan and before the first job, never in a dry-run: what a
# download would fix only warns in a dry-run, and stops a real run here; so does a damaged
# checkpoint that a planned job would read (before Snakemake deletes that job's earlier outputs).
onstart:
    if workflow.is_main_process:
        _problems = _report.before_run + checkpoint_errors(
            *checkpoints_read_by_planned_jobs()
        )
        if _problems:
            raise WorkflowError(
                "pre-flight found problems (nothing was run):\n  "
                + "\n  ".join(_problems)
            )


ONTOLOGIES = sorted(config["ontologies"])
# the experiments' runs included (expanded by validate_config)
RUNS = sorted(config["runs"])
MODELS = sorted(config["models"])
# Experiment name → its runs (factsurv.experiments.Cell: run, model, design, seed), in grid order.
EXPERIMENTS = experiment_cells(config)


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def ontology(onto):
    return config["ontologies"][onto]


def run_config(run):
    return config["runs"][run]


def model_config(name):
    return config["models"][name]


def annotation_path(onto):
    """Where the annotation file of an ontology lands: {onto}.hpoa or {onto}.gaf, + .gz if compressed."""
    spec = ontology(onto)["annotations"]
    fmt = spec.get("format")
    if fmt not in ("hpoa", "gaf"):
        raise WorkflowError(
            f"config error at ontologies.{onto}.annotations.format: must be hpoa or gaf"
        )
    origin = spec.get("member") or spec.get("url") or spec.get("path") or ""
    gz = ".gz" if origin.split("?")[0].endswith(".gz") else ""
    return f"resources/annotations/{onto}.{fmt}{gz}"


def local_file(get_source):
    """Input function: the local file of a `source: path` entry (so that editing it re-runs the
    rule), nothing for url and wheel sources."""

    def inputs(wildcards):
        spec = get_source(wildcards)
        return [spec["path"]] if spec.get("source") == "path" else []

    return inputs


def has_annotations(onto):
    return bool(ontology(onto).get("annotations"))


def sample_facts_input(wildcards):
    inputs = {}
    for onto in sampled_ontologies():
        inputs[f"terms_{onto}"] = f"results/terms/{onto}.tsv"
        inputs[f"obo_provenance_{onto}"] = (
            f"resources/ontologies/{onto}.obo.provenance.json"
        )
        if has_annotations(onto):
            inputs[f"counts_{onto}"] = f"results/annotations/{onto}.tsv"
            inputs[f"annotations_provenance_{onto}"] = (
                annotation_path(onto) + ".provenance.json"
            )
    return inputs


def facts_from_table():
    return config["facts"]["source"] == "table"


# An output that more than one rule can make (the config picks the rule) must re-run when the choice
# changes. Snakemake compares a job's params, set of input files and code with what it recorded
# only when every output of the job has a record (snakemake/dag.py, update_needrun: otherwise
# `no_metadata`, which is no reason to run, and no trigger is checked); an output the old rule did
# not make has none. So every rule that can make these files declares all of them (from here) and
# names the choice in params.source; each writes every file (empty tables where its source has
# nothing to say). A new fact source: one more rule under `if` in data.smk with
# `output: **FACTS_OUTPUTS` and `params: source=facts_source()`.
FACTS_OUTPUTS = {
    "facts": "results/facts/facts.tsv",
    "provenance": "results/facts/facts.provenance.json",
    "report": "results/facts/facts_table_report.tsv",
    "literature": "results/facts/facts_table_literature.tsv",
}


def facts_source():
    """facts.source: the choice among the rules that make FACTS_OUTPUTS (a param of each)."""
    return config["facts"]["source"]


def table_facts_input(wildcards):
    """The fact tables and, per ontology they may name, the parsed release (terms, alt_ids from the
    OBO file), the annotation counts and the provenance records."""
    inputs = {f"table_{i}": t["path"] for i, t in enumerate(config["facts"]["tables"])}
    for onto in sampled_ontologies():
        inputs[f"terms_{onto}"] = f"results/terms/{onto}.tsv"
        inputs[f"obo_{onto}"] = f"resources/ontologies/{onto}.obo"
        inputs[f"obo_provenance_{onto}"] = (
            f"resources/ontologies/{onto}.obo.provenance.json"
        )
        if has_annotations(onto):
            inputs[f"counts_{onto}"] = f"results/annotations/{onto}.tsv"
            inputs[f"annotations_provenance_{onto}"] = (
                annotation_path(onto) + ".provenance.json"
            )
    return inputs


def table_facts_seed():
    """sample.seed, only when a table draws its split at random (otherwise changing the seed
    re-runs nothing)."""
    if any(t["split"] == "random" for t in config["facts"]["tables"]):
        return config["sample"]["seed"]
    return None


def literature_inputs():
    lit = config["literature"]
    if lit["source"] == "table":
        return [lit["table"]]
    if lit["source"] == "corpus":
        return list(lit["corpus"])
    return []


def literature_counts_input(wildcards):
    """The facts, the source's files and the fact table's own counts (FACTS_OUTPUTS literature:
    every fact source writes it, empty when it has none)."""
    inputs = {
        "facts": FACTS_OUTPUTS["facts"],
        "overrides": FACTS_OUTPUTS["literature"],
        "sources": literature_inputs(),
    }
    if config["literature"]["source"] == "europepmc":
        inputs["fetched"] = "results/facts/literature_europepmc.tsv"
    return inputs


def sampled_ontologies():
    """The ontologies the facts come from: those of sample.counts, or with facts.source: table
    those the tables name (all configured ones when a table takes them from the prefixes).
    """
    if facts_from_table():
        named = [t["ontology"] for t in config["facts"]["tables"]]
        if any(o is None for o in named):
            return list(ONTOLOGIES)
        return [o for o in ONTOLOGIES if o in named]
    counts = config["sample"]["counts"]
    return [o for o in ONTOLOGIES if o in counts]


# The default target (the all rule): what each part of the workflow adds, asked of the functions that
# its .smk file defines (model_targets in model_common.smk, analysis_targets in analysis.smk,
# control_targets in control_common.smk, paper_targets and experiment_outputs in experiments.smk,
# learning_dynamics_targets and experiment_learning_targets in learning_dynamics.smk).
# They are looked up when rule all is read, after every file is included.
def run_targets(run):
    """Every final output of one run."""
    return [
        *model_targets(run),
        *analysis_targets(run),
        *control_targets(run),
        *paper_targets(run),
        *parameter_targets(run),
        *learning_dynamics_targets(run),
        *exposure_targets(run),
    ]


def final_targets():
    """The default target: the facts, every run's outputs and every experiment's joint analysis."""
    outputs = ["results/facts/facts.tsv", "results/facts/literature_counts.tsv"]
    if facts_from_table():
        outputs.append("results/facts/facts_table_drops.tsv")
    for run in RUNS:
        outputs += run_targets(run)
    for name in sorted(EXPERIMENTS):
        outputs += experiment_outputs(name) + experiment_parameter_targets(name)
        outputs += experiment_learning_targets(name)
    return outputs


def demo_settings(model):
    """models.<model>.demo (defaults filled from the schema's demo_model definition)."""
    return model_config(model)["demo"]
