"""Training designs as Snakemake runs them: the tiny config with a `mixed` and a `two_stage` run
(2 epochs each) through train_plan → train_epoch → eval_epoch → trajectories, then dry-runs.

One real run for the module (~2-3 min on 2 cores); the checks after it are reads and dry-runs.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO, make_workdir, planned_jobs, run_snakemake, write_config

from factsurv.designs import plan_sha256, read_plan
from factsurv.io import read_tsv
from factsurv.modeling import checkpoint as ckpt

pytestmark = pytest.mark.slow

TINY = "tests/configs/tiny.yaml"
EPOCHS = 2


def _runs() -> dict:
    base = yaml.safe_load((REPO / TINY).read_text())["runs"]["tiny"]
    base = {**copy.deepcopy(base), "epochs": EPOCHS}
    base["training"] = {**base["training"], "schedule_epochs": 3}
    return {
        "mixed": {**copy.deepcopy(base), "design": {"strategy": "mixed", "statement_only_share": 0.25}},
        "two_stage": {**copy.deepcopy(base), "design": {"strategy": "two_stage", "stage_epochs": 1}},
    }


def _targets(runs) -> list[str]:
    return [f"results/{r}/analysis/trajectories.tsv" for r in runs]


@pytest.fixture(scope="module")
def designs_run(tmp_path_factory):
    wd = make_workdir(tmp_path_factory.mktemp("designs") / "wf")
    cfg = write_config(wd, TINY, "designs.yaml", runs=_runs())
    run_snakemake(wd, *_targets(_runs()), "--configfile", str(cfg), timeout=1500)
    return wd, cfg


def test_mixed_and_two_stage_train_on_their_plans(designs_run):
    wd, _ = designs_run
    mixed = read_plan(wd / "results/mixed/train_plan.tsv")
    two = read_plan(wd / "results/two_stage/train_plan.tsv")
    assert sorted(mixed["epoch"].unique()) == [1, 2, 3]  # the plan spans schedule_epochs
    for e in (1, 2, 3):
        assert set(mixed.loc[mixed["epoch"] == e, "format"]) == {"question", "statement"}
    assert set(two.loc[two["epoch"] == 1, "format"]) == {"statement"}
    assert set(two.loc[two["epoch"] > 1, "format"]) == {"question"}
    for run, plan in (("mixed", mixed), ("two_stage", two)):
        sha = plan_sha256(wd / f"results/{run}/train_plan.tsv")
        for e in range(1, EPOCHS + 1):
            meta = ckpt.read_meta(wd / f"results/{run}/checkpoints/epoch_{e}")
            assert meta["plan"]["train_plan_sha256"] == sha
            assert meta["n_train"] == int((plan["epoch"] == e).sum())
        assert "statements" in (wd / f"logs/{run}/train_plan.log").read_text()


def test_trajectories_carry_the_per_run_split_and_exposures(designs_run):
    wd, _ = designs_run
    facts = read_tsv(wd / "results/facts/facts.tsv", dtype={"fact_id": str})
    n_train = int((facts["split"] == "train").sum())
    traj = read_tsv(wd / "results/mixed/analysis/trajectories.tsv", dtype={"fact_id": str})
    first = traj[traj["epoch"] == 0].set_index("fact_id")
    counts = first["split"].value_counts().to_dict()
    assert counts["statement_only"] == round(0.25 * n_train)
    assert counts["train"] == n_train - counts["statement_only"]
    assert (first.loc[first["split"] == "heldout", "seen"] == 0).all()
    # mixed, uniform: one question + one statement per asked fact per epoch, one statement otherwise
    assert set(first.loc[first["split"] == "train", "exposures"]) == {2 * EPOCHS}
    assert set(first.loc[first["split"] == "statement_only", "exposures"]) == {EPOCHS}
    two = read_tsv(wd / "results/two_stage/analysis/trajectories.tsv", dtype={"fact_id": str})
    assert set(two["split"]) == {"train", "heldout"}


def test_changing_one_runs_design_replans_that_run_only(designs_run):
    wd, _ = designs_run
    assert planned_jobs(wd, *_targets(_runs()), "--configfile", str(designs_run[1])) == {}
    runs = _runs()
    runs["mixed"]["design"]["statements_per_epoch"] = 2
    cfg = write_config(wd, TINY, "designs_changed.yaml", runs=runs)
    jobs = dict(planned_jobs(wd, *_targets(runs), "--configfile", str(cfg)))
    jobs.pop("all", None)
    assert jobs == {"train_plan": 1, "train_epoch": EPOCHS, "eval_epoch": EPOCHS, "trajectories": 1}, jobs
