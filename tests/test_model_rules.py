"""The model stage as Snakemake runs it: probe → epochs → evals on the tiny config, and re-planning.

The session's one finished run of the tiny config (shared), then dry-runs of changed configs:
- a new learning rate re-plans training, the evals of epochs ≥ 1 and the analysis, nothing upstream;
- raising `epochs` 3 → 5 plans only epochs 4–5, their evals and the analysis;
- an eval setting re-plans only the evals and the analysis.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import REPO, make_workdir, planned_jobs, run_snakemake, write_config
from factsurv.config import ConfigError, validate_config
from factsurv.io import read_tsv
from factsurv.tables import (
    CONTROL_ACCURACY_COLUMNS,
    CONTROL_COLUMNS,
    CONTROL_ITEM_COLUMNS,
    EVAL_COLUMNS,
    PROBE_COLUMNS,
)

TINY = "tests/configs/tiny.yaml"
UPSTREAM = {"get_ontology", "get_annotations", "parse_terms", "annotation_counts", "sample_facts",
            "literature_counts", "demo_corpus", "build_demo_model", "pretrain_demo_model", "probe_baseline",
            "eval_base_model", "run_baseline_tables"}


@pytest.fixture(scope="module")
def tiny_run(finished_tiny_run):
    """The session's finished tiny run (tests/conftest.py: made once, through Slurm); these tests
    read it and dry-run in it."""
    return finished_tiny_run.workdir


@pytest.mark.slow
def test_tiny_run_writes_probe_checkpoints_and_evals(tiny_run):
    wd = tiny_run
    epochs = yaml.safe_load((REPO / TINY).read_text())["runs"]["tiny"]["epochs"]
    facts = read_tsv(wd / "results/facts/facts.tsv")
    probe = read_tsv(wd / "results/tiny/probe/baseline.tsv")
    assert list(probe.columns) == list(PROBE_COLUMNS)
    assert sorted(probe["fact_id"]) == sorted(facts["fact_id"])
    for e in range(epochs + 1):
        ev = read_tsv(wd / f"results/tiny/eval/epoch_{e}.tsv")
        assert list(ev.columns) == list(EVAL_COLUMNS)
        assert sorted(ev["fact_id"]) == sorted(facts["fact_id"]) and (ev["epoch"] == e).all()
    for e in range(1, epochs + 1):
        ck = wd / f"results/tiny/checkpoints/epoch_{e}"
        meta = json.loads((ck / "checkpoint.json").read_text())
        assert meta["epoch"] == e and meta["method"] == "full"
        assert (ck / "model.safetensors").exists() and (ck / "trainer_state.pt").exists()
    assert not list((wd / "results/tiny/checkpoints").glob(".*tmp"))  # no temp dirs left
    assert "epoch 2" in (wd / "logs/tiny/train_epoch_2.log").read_text()
    assert planned_jobs(wd, "--configfile", TINY) == {}


@pytest.mark.slow
def test_tiny_run_writes_control_tables_and_the_new_figures(tiny_run):
    """Issue 13: the control probe after every epoch (0: the base model), its accuracy table and
    figure, the forgetting view and their summary rows, from the same real run."""
    wd = tiny_run
    items = read_tsv(wd / "results/control/items.tsv")
    assert list(items.columns) == list(CONTROL_ITEM_COLUMNS) and len(items) == 200
    for e in range(4):
        t = read_tsv(wd / f"results/tiny/control/epoch_{e}.tsv", dtype={"prediction": str})
        assert list(t.columns) == list(CONTROL_COLUMNS)
        assert list(t["item_id"]) == list(items["item_id"]) and (t["epoch"] == e).all()
        assert set(t["correct"]) <= {0, 1}
    acc = read_tsv(wd / "results/tiny/analysis/control.tsv")
    assert list(acc.columns) == list(CONTROL_ACCURACY_COLUMNS) and list(acc["epoch"]) == [0, 1, 2, 3]
    print("tiny control accuracy by epoch:", dict(zip(acc["epoch"], acc["accuracy"])))
    for fig in ("control", "forgetting", "epoch_sets"):
        for ext in ("svg", "png"):
            assert (wd / f"results/tiny/figures/{fig}.{ext}").stat().st_size > 1000, (fig, ext)
    forgetting = read_tsv(wd / "results/tiny/analysis/forgetting.tsv")
    assert set(forgetting["m"]) <= {1, 2}
    summary = read_tsv(wd / "results/tiny/analysis/summary.tsv")
    metrics = set(summary["metric"])
    assert {"control_accuracy", "train_loss", "forgotten_per_epoch", "relearned_per_epoch",
            "confident_error_share", "forgetting_share"} <= metrics
    row = summary[(summary["metric"] == "control_accuracy") & (summary["group"] == "arithmetic/epoch 0")].iloc[0]
    assert row["value"] == acc.loc[acc["epoch"] == 0, "accuracy"].iloc[0]
    assert "chance" in row["note"]


@pytest.mark.slow
def test_new_learning_rate_replans_training_evals_and_downstream_only(tiny_run):
    wd = tiny_run
    cfg = write_config(wd, wd / TINY, name="lr.yaml", runs__tiny__training__lr=0.002)
    jobs = planned_jobs(wd, "--configfile", str(cfg))
    assert jobs["train_epoch"] == 3 and jobs["eval_epoch"] == 3  # epoch 0 is the untouched model
    assert jobs["control_epoch"] == 3
    assert jobs["trajectories"] == 1
    assert not UPSTREAM & set(jobs)


@pytest.mark.slow
def test_more_epochs_plan_only_the_new_epochs(tiny_run):
    wd = tiny_run
    cfg = write_config(wd, wd / TINY, name="epochs.yaml", runs__tiny__epochs=5)
    jobs = planned_jobs(wd, "--configfile", str(cfg))
    assert jobs["train_epoch"] == 2 and jobs["eval_epoch"] == 2
    assert jobs["trajectories"] == 1
    assert not UPSTREAM & set(jobs)
    proc = run_snakemake(wd, "-n", "--configfile", str(cfg))
    outputs = re.findall(r"^\s*output: (.*)$", proc.stdout, re.M)
    assert any("checkpoints/epoch_4" in o for o in outputs)
    assert not any(re.search(r"checkpoints/epoch_[123]\b", o) for o in outputs), outputs


@pytest.mark.slow
def test_eval_setting_replans_only_evals(tiny_run):
    wd = tiny_run
    cfg = write_config(wd, wd / TINY, name="eval.yaml", runs__tiny__eval={"batch_size": 5})
    jobs = planned_jobs(wd, "--configfile", str(cfg))
    # epochs 1-3, and epoch 0 at model scope under a new key (the eval settings differ)
    assert jobs["eval_epoch"] == 3 and jobs["eval_base_model"] == 1 and "train_epoch" not in jobs
    assert "control_epoch" not in jobs
    # the probe reads eval epoch 0 (its greedy answers), so it follows; nothing else upstream does
    assert jobs["probe_baseline"] == 1 and jobs["run_baseline_tables"] == 1
    assert not (UPSTREAM - {"probe_baseline", "eval_base_model", "run_baseline_tables"}) & set(jobs)


@pytest.mark.slow
def test_tables_do_not_depend_on_cores(tiny_run, tmp_path):
    """The same config with --cores 1 gives byte-identical eval, probe and Cox tables (the model jobs
    use the configured thread count, not the cores a job gets; samples are keyed per fact)."""
    wd = tiny_run
    other = make_workdir(tmp_path / "wf1")
    tables = ["results/tiny/probe/baseline.tsv", *[f"results/tiny/eval/epoch_{e}.tsv" for e in range(4)],
              *[f"results/tiny/control/epoch_{e}.tsv" for e in range(4)], "results/tiny/analysis/forgetting.tsv",
              *[f"results/tiny/analysis/{t}.tsv" for t in ("loss_recall", "consolidation_facts", "stopping")],
              *[str(p.relative_to(wd)) for p in sorted((wd / "results/tiny/analysis").glob("cox_*.tsv"))]]
    assert len(tables) > 6
    # only what the tables need (the figures and parameter-level analyses are not compared)
    proc = run_snakemake(other, *tables, "--configfile", TINY, timeout=1200, cores=1)  # targets first: --configfile takes several
    assert proc.returncode == 0
    for rel in tables:
        assert (wd / rel).read_bytes() == (other / rel).read_bytes(), rel


def _tiny_config():
    cfg = yaml.safe_load((REPO / TINY).read_text())
    for onto in cfg["ontologies"].values():
        for part in ("obo", "annotations"):
            if part in onto and onto[part]["source"] == "path":
                onto[part]["path"] = str(REPO / onto[part]["path"])
    return cfg


def test_model_folder_that_does_not_exist_fails_at_validation(tmp_path):
    cfg = _tiny_config()
    cfg["models"]["local"] = {"source": "path", "name_or_path": str(tmp_path / "missing")}
    cfg["runs"]["tiny"]["model"] = "local"
    with pytest.raises(ConfigError, match="models.local.name_or_path: model folder not found"):
        validate_config(cfg, REPO / "workflow/schemas/config.schema.yaml")


def test_hf_model_needs_no_file_input(tmp_path):
    """source: hf → the id goes through params; the dry-run plans the model jobs with no folder input."""
    wd = make_workdir(tmp_path / "wf")
    cfg = write_config(wd, TINY, name="hf.yaml",
                       models={"hub": {"source": "hf", "name_or_path": "org/some-model", "local_files_only": False}},
                       runs__tiny__model="hub", literature={"source": "none"})
    proc = run_snakemake(wd, "-n", "results/tiny/eval/epoch_1.tsv", "--configfile", str(cfg))
    assert "rule train_epoch" in proc.stdout and "results/models/" not in proc.stdout
