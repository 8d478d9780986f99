"""Incremental re-runs, in one place: on a finished run of the tiny config, what a dry-run plans.

- nothing changed: nothing to do;
- one setting of each stage changed: exactly that stage and what depends on it, by rule name
  (and, where it matters, by job count: a new learning rate re-trains every epoch but does not
  re-evaluate the untouched model of epoch 0);
- files touched without being changed (the facts, an ontology, a checkpoint's weights, an eval
  table, the pretrained model): nothing to do (profiles/default: checksums up to 100 MB;
  directories dated by their .snakemake_timestamp) — while a real change of content still is seen.

The finished run is made once for the module (the tiny workflow, ~1-2 min on 2 cores); every check
after it is a dry-run in the same directory, or in a copy where files are touched.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import make_workdir, planned_jobs, write_config

sys.path.insert(0, str(Path(__file__).parent / "slurm/fixtures"))
from finished_run import CONFIG, copy_workdir, finished_tiny_run  # noqa: E402

pytestmark = pytest.mark.slow

RUN = "tiny"
EPOCHS = 3  # runs.tiny.epochs of the tiny config

DATA = {"get_ontology", "get_annotations", "parse_terms", "annotation_counts", "sample_facts", "literature_counts"}
DEMO = {"demo_corpus", "build_demo_model", "pretrain_demo_model"}
PLAN = {"train_plan"}
MODEL = {"eval_base_model", "probe_baseline", "run_baseline_tables", "train_epoch", "eval_epoch", "control_epoch"}
#: one job draws every figure of a run (the control figure too): any analysis change re-draws them
FIGURES = {"figures"}
#: the control probe's analysis reads the control tables only (not the facts' evals or the probe)
CONTROL = {"control_accuracy"}
#: one job per run and step for all three event kinds (events, cox with the q-values, discrete_time, km)
ANALYSIS = {"trajectories", "events", "cox", "discrete_time", "km", "dynamics", "summary", "paper_comparison",
            "epoch_sets", "forgetting", "control_accuracy"} | FIGURES
EVERYTHING = DATA | DEMO | PLAN | MODEL | ANALYSIS | {"control_items"}


@pytest.fixture(scope="module")
def finished(request, tmp_path_factory) -> Path:
    """A working directory where the tiny config has run to the end (through Slurm; shared)."""
    return finished_tiny_run(request, tmp_path_factory).workdir


def test_the_tiny_config_plans_every_rule(tmp_path):
    jobs = plan(make_workdir(tmp_path / "wf"))
    assert set(jobs) == EVERYTHING


def plan(wd: Path, config: str | Path = CONFIG) -> dict[str, int]:
    jobs = planned_jobs(wd, "--configfile", str(config))
    jobs.pop("all", None)
    return dict(jobs)


def test_nothing_changed_nothing_to_do(finished):
    assert plan(finished) == {}


# (what changes, config key → value, the rules that must be planned: that stage + its dependents)
CHANGES = [
    ("data: sample.seed", {"sample__seed": 4},
     {"sample_facts", "literature_counts"} | DEMO | PLAN | MODEL | ANALYSIS),
    ("model: the demo model's architecture",
     {"models__demo__demo__architecture": {"hidden_size": 48, "intermediate_size": 64,
                                           "num_hidden_layers": 1, "num_attention_heads": 2}},
     {"build_demo_model", "pretrain_demo_model"} | MODEL | ANALYSIS),
    ("training: lr", {f"runs__{RUN}__training__lr": 0.002},
     {"train_epoch", "eval_epoch", "control_epoch"} | ANALYSIS),
    ("design: strategy", {f"runs__{RUN}__design__strategy": "mixed"},
     PLAN | {"train_epoch", "eval_epoch", "control_epoch"} | ANALYSIS),
    ("probe: k", {f"runs__{RUN}__probe__k": 5},
     {"probe_baseline", "run_baseline_tables"} | ANALYSIS - CONTROL),
    ("control: items", {"control__arithmetic__items": 50},
     {"control_items", "control_epoch", "summary", "paper_comparison"} | CONTROL | FIGURES),
    ("control: max_new_tokens", {"control__max_new_tokens": 6},
     {"control_epoch", "summary", "paper_comparison"} | CONTROL | FIGURES),
    ("analysis: the Cox covariates", {"analysis__cox__covariates": ["latent", "annotation_count", "depth"]},
     {"cox", "discrete_time", "summary", "paper_comparison"} | FIGURES),
    ("figures: dpi", {"figures__dpi": 120},
     FIGURES),
]


@pytest.mark.parametrize("what,changes,expected", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_setting_plans_its_stage_and_dependents_only(finished, what, changes, expected):
    name = "change_" + what.split(":")[0] + ".yaml"
    config = write_config(finished, CONFIG, name, **changes)
    jobs = plan(finished, config)
    assert set(jobs) == expected, (
        f"{what}: planned {sorted(jobs)}; missing {sorted(expected - set(jobs))}, "
        f"unexpected {sorted(set(jobs) - expected)}"
    )
    if what.startswith(("training", "design")):
        # every epoch is re-trained and re-evaluated, but not the untouched model (epoch 0)
        assert jobs["train_epoch"] == EPOCHS and jobs["eval_epoch"] == EPOCHS and jobs["control_epoch"] == EPOCHS


def test_more_epochs_plan_only_the_new_epochs(finished):
    config = write_config(finished, CONFIG, "more_epochs.yaml", **{f"runs__{RUN}__epochs": EPOCHS + 2})
    jobs = plan(finished, config)
    assert jobs.get("train_epoch") == 2 and jobs.get("eval_epoch") == 2 and jobs.get("control_epoch") == 2, jobs
    assert set(jobs) == {"train_epoch", "eval_epoch", "control_epoch"} | ANALYSIS, jobs


def _touch(paths: list[Path]) -> None:
    later = time.time() + 5
    for p in paths:
        os.utime(p, (later, later))


def test_touching_files_reruns_nothing_but_a_real_change_does(finished, tmp_path):
    wd = copy_workdir(finished, tmp_path / "wf")  # mtimes and .snakemake metadata come along
    assert plan(wd) == {}

    ckpt = wd / f"results/{RUN}/checkpoints/epoch_1"

    def files(folder: Path) -> list[Path]:
        # not Snakemake's own .snakemake_timestamp: it IS the folder's date (see docs/slurm.md)
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")

    touched = [
        wd / "results/facts/facts.tsv",
        *sorted((wd / "resources/ontologies").glob("*.obo")),
        *sorted((wd / "resources/annotations").glob("*.*")),
        wd / "results/models/demo/corpus.txt",
        *files(wd / "results/models/demo/pretrained"),
        *files(ckpt),
        ckpt,
        wd / f"results/{RUN}/probe/baseline.tsv",
        *sorted((wd / "results/models/demo").glob("*_*/*.tsv")),  # model scope: eval_{key}/, probe_{key}/
        wd / f"results/{RUN}/eval/epoch_1.tsv",
    ]
    assert all(p.exists() for p in touched), [str(p) for p in touched if not p.exists()]
    _touch(touched)
    assert plan(wd) == {}, "touching files without changing them must not re-run anything"

    # the same check must see a real change: one more (harmless) line in the eval table of epoch 1
    table = wd / f"results/{RUN}/eval/epoch_1.tsv"
    table.write_text(table.read_text() + "\n")
    _touch([table])
    assert set(plan(wd)) == ANALYSIS - CONTROL  # the control tables are untouched


def test_reversed_keys_and_integral_floats_plan_nothing(finished):
    """The same config with every mapping's keys in reverse order and every integer written as a
    float (k: 4.0, epochs: 3.0): nothing to do (one canonical config feeds every rule's params)."""
    import yaml

    def rewrite(node):
        if isinstance(node, dict):
            return {k: rewrite(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return float(node) if isinstance(node, int) and not isinstance(node, bool) else node

    cfg = rewrite(yaml.safe_load((finished / CONFIG).read_text()))
    path = finished / "tests/configs/reversed.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert plan(finished, path) == {}
