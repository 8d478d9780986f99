# Helpers shared by all rule files: configuration validation, names, input functions.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from factsurv.config import ConfigError, validate_config  # noqa: E402

try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None

ONTOLOGIES = sorted(config["ontologies"])
RUNS = sorted(config["runs"])
MODELS = sorted(config["models"])
DEMO_MODELS = sorted(m for m, spec in config["models"].items() if spec["source"] == "demo")
ANNOTATION_EXT = {"hpoa": "hpoa", "gaf": "gaf.gz"}


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"

wildcard_constraints:
    onto=_alternatives(ONTOLOGIES),
    run=_alternatives(RUNS),
    model=_alternatives(MODELS),
    epoch=r"\d+",


def ontology(onto):
    return config["ontologies"][onto]


def run_config(run):
    return config["runs"][run]


def model_config(name):
    return config["models"][name]


def annotation_path(onto):
    fmt = ontology(onto)["annotations"].get("format", "hpoa")
    return f"resources/annotations/{onto}.{ANNOTATION_EXT[fmt]}"


def sampled_ontologies():
    counts = config["sample"]["counts"]
    return [o for o in ONTOLOGIES if o in counts]


# Each rule file appends the per-run targets it contributes to `rule all` ("{run}" is filled in).
RUN_TARGETS = []


def get_run_outputs(run):
    return [pattern.format(run=run) for pattern in RUN_TARGETS]


def get_final_outputs():
    outputs = ["results/facts/facts.tsv", "results/facts/literature_counts.tsv"]
    for run in RUNS:
        outputs += get_run_outputs(run)
    return outputs
