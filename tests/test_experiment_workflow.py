"""A tiny experiment run by the real Snakemake: 2 designs x 2 seeds x 2 epochs of the
tiny demo model (tests/configs/tiny_experiment.yaml).

- the grid expands into 4 runs; the base model is evaluated (epoch 0) and probed once, at model
  scope, and every run reads the same tables;
- the joint tables carry run, model, seed, design; the joint Cox table has SEs clustered by fact,
  equal to lifelines fitted directly on the stacked table;
- a third seed plans only its own training/eval jobs (and what feeds the joint analysis) and the
  experiment's analysis: no probe, no epoch-0 evaluation.

Only the experiment's outputs are requested (each run's own Cox/KM/figures are covered by the tiny
run's tests), which keeps this module to ~60 jobs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_workdir, planned_jobs, run_snakemake, write_config

from factsurv.io import read_tsv
from factsurv.tables import JOINT_COX_COLUMNS, RUN_COLUMNS

pytestmark = pytest.mark.slow

CONFIG = "tests/configs/tiny_experiment.yaml"
RUNS = {"grid-bs4-s1", "grid-bs4-s2", "grid-lr_high-s1", "grid-lr_high-s2"}
EVENT_KINDS = ("acquisition", "generalization", "degradation")
TARGETS = [
    *[f"results/experiments/grid/{t}.tsv" for t in
      ("trajectories", *[f"events_{k}" for k in EVENT_KINDS], *[f"cox_{k}" for k in EVENT_KINDS],
       "acquisition_curves", "degradation")],
    *[f"results/experiments/grid/figures/{f}.{x}" for f in ("acquisition_curves", "forest_latent", "degradation")
      for x in ("svg", "png")],
]
DTYPE = {"fact_id": str, "run": str, "model": str, "design": str}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    wd = make_workdir(tmp_path_factory.mktemp("experiment") / "wf")
    plan = planned_jobs(wd, "--configfile", CONFIG)
    # one model: one epoch-0 evaluation and one probe for the 4 runs; 2 epochs each
    assert plan["probe_baseline"] == 1 and plan["eval_base_model"] == 1, plan
    assert plan["train_epoch"] == 8 and plan["eval_epoch"] == 8 and plan["run_baseline_tables"] == 4, plan
    assert plan["experiment_tables"] == 1 and plan["experiment_cox"] == 3, plan
    run_snakemake(wd, "--configfile", CONFIG, "--", *TARGETS, timeout=1500)
    return wd


def test_one_probe_per_model_shared_by_every_run(finished):
    probes = sorted(finished.glob("results/models/demo/probe_*/baseline.tsv"))
    evals = sorted(finished.glob("results/models/demo/eval_*/epoch_0.tsv"))
    assert len(probes) == 1 and len(evals) == 1, (probes, evals)
    assert {p.name for p in (finished / "results").iterdir()} >= RUNS
    for run in RUNS:
        assert (finished / f"results/{run}/probe/baseline.tsv").read_bytes() == probes[0].read_bytes()
        assert (finished / f"results/{run}/eval/epoch_0.tsv").read_bytes() == evals[0].read_bytes()


def test_joint_tables_carry_the_grid_columns(finished):
    for name in ("trajectories", *[f"events_{k}" for k in EVENT_KINDS]):
        table = read_tsv(finished / f"results/experiments/grid/{name}.tsv", dtype=DTYPE)
        assert tuple(table.columns[:4]) == RUN_COLUMNS, name
        owns = {run: read_tsv(finished / f"results/{run}/analysis/{name}.tsv", dtype={"fact_id": str}) for run in RUNS}
        assert list(table.columns[4:]) == list(owns["grid-bs4-s1"].columns), name
        assert len(table) == sum(len(t) for t in owns.values()), name
        if name in ("trajectories", "events_acquisition"):  # never empty (the tiny model knows few facts)
            assert set(table["run"]) == RUNS and set(table["design"]) == {"bs4", "lr_high"}
            assert set(table["seed"]) == {1, 2} and set(table["model"]) == {"demo"}
        for run, own in owns.items():  # each run's rows are its own table, unchanged
            mine = table[table["run"] == run].drop(columns=list(RUN_COLUMNS)).reset_index(drop=True)
            assert mine.equals(own.reset_index(drop=True)), (name, run)
    traj = read_tsv(finished / "results/experiments/grid/trajectories.tsv", dtype=DTYPE)
    assert set(traj["epoch"]) == {0, 1, 2}
    for f in ("acquisition_curves", "forest_latent", "degradation"):
        assert "<svg" in (finished / f"results/experiments/grid/figures/{f}.svg").read_text()[:3000]


def plant_events(path: Path) -> None:
    """The tiny model acquires (almost) nothing in 2 epochs, and has no latent facts: give the stacked
    acquisition events planted ones (a per-fact latent flag shared by the runs, more events when
    latent), keyed by a fixed seed, so that the joint Cox model has something to fit."""
    import numpy as np

    from factsurv.io import write_tsv

    events = read_tsv(path, dtype=DTYPE)
    rng = np.random.default_rng(12)
    facts = sorted(set(events["fact_id"]))
    latent = dict(zip(facts, (rng.random(len(facts)) < 0.4).astype(int)))
    frailty = dict(zip(facts, rng.gamma(2.0, 0.5, len(facts))))
    events["latent"] = events["fact_id"].map(latent)
    hazard = 0.35 * np.where(events["latent"] == 1, 2.5, 1.0) * events["fact_id"].map(frailty)
    t = rng.exponential(1.0 / hazard)
    events["event"] = (t <= 2).astype(int)
    events["duration"] = np.where(t <= 1, 1, 2)
    write_tsv(events, path)


def test_joint_cox_ses_are_clustered_by_fact_as_lifelines_gives_them(finished):
    from lifelines import CoxPHFitter

    stacked = finished / "results/experiments/grid/events_acquisition.tsv"
    plant_events(stacked)
    # the stacked table changed: its readers re-run, nothing upstream does
    assert planned_jobs(finished, *TARGETS, "--configfile", CONFIG) == {
        "experiment_cox": 1, "experiment_curves": 1, "figure_experiment": 1}
    run_snakemake(finished, "--configfile", CONFIG, "--", *TARGETS)
    fitted = 0
    for kind in EVENT_KINDS:
        cox = read_tsv(finished / f"results/experiments/grid/cox_{kind}.tsv", dtype=DTYPE)
        assert tuple(cox.columns) == JOINT_COX_COLUMNS
        joint = cox[(cox["model"] == "joint") & cox["converged"].astype(bool)].set_index("covariate")
        if joint.empty:
            continue
        assert (joint["se_type"] == "robust (cluster: fact)").all()
        events = read_tsv(finished / f"results/experiments/grid/events_{kind}.tsv", dtype=DTYPE)
        frame = events[["duration", "event", "fact_id"]].copy()
        for cov in joint.index:
            if cov.startswith("design["):
                frame[cov] = (events["design"] == cov[len("design["):-1]).astype(float)
            else:
                frame[cov] = events[cov].astype(float)
        direct = CoxPHFitter().fit(frame, "duration", "event", cluster_col="fact_id").summary
        for cov in joint.index:
            assert joint.loc[cov, "coef"] == pytest.approx(direct.loc[cov, "coef"], rel=1e-5, abs=1e-8), (kind, cov)
            assert joint.loc[cov, "se"] == pytest.approx(direct.loc[cov, "se(coef)"], rel=1e-5), (kind, cov)
        fitted += 1
        if kind == "acquisition":  # the planted events: both covariates estimated, latent acquired sooner
            assert set(joint.index) == {"latent", "design[lr_high]"}, joint
            assert joint.loc["latent", "hr"] > 1
            cond = cox[cox["model"] == "condition"]
            assert set(cond["condition"]) == {"demo/bs4", "demo/lr_high"} and cond["converged"].astype(bool).all()
    assert fitted >= 1, "no joint Cox model converged in the tiny experiment"


def test_a_third_seed_plans_only_its_jobs_and_the_experiment_analysis(finished):
    assert planned_jobs(finished, *TARGETS, "--configfile", CONFIG) == {}
    cfg = write_config(finished, CONFIG, "three_seeds.yaml", experiments__grid__seeds=[1, 2, 3])
    jobs = dict(planned_jobs(finished, *TARGETS, "--configfile", str(cfg)))
    assert jobs == {
        "train_plan": 2, "train_epoch": 4, "eval_epoch": 4,  # 2 designs x 2 epochs of seed 3
        "run_baseline_tables": 2, "trajectories": 2, "events": 2,  # what the joint tables read of its 2 runs
        "experiment_tables": 1, "experiment_cox": 3, "experiment_curves": 1, "figure_experiment": 1,
    }, jobs
