"""Rule learning_dynamics on the session's finished tiny run (in its default target: no new run is
made): its tables agree with the tables they restate (epoch_sets.tsv, forgetting.tsv), its figures
are drawn, and an experiment plans its pooled tables."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_workdir, planned_jobs

from factsurv.io import read_tsv
from factsurv.tables import (CONSOLIDATION_COLUMNS, CONSOLIDATION_FACT_COLUMNS, LEARNING_SUMMARY_COLUMNS,
                             LOSS_RECALL_COLUMNS, RETENTION_KM_COLUMNS, STOPPING_COLUMNS, STOPPING_SERIES_COLUMNS)

pytestmark = pytest.mark.slow

RUN = "results/tiny"


@pytest.fixture(scope="module")
def wd(finished_tiny_run):
    return finished_tiny_run.workdir


def table(wd, name):
    return read_tsv(wd / f"{RUN}/analysis/{name}.tsv", dtype={"fact_id": str})


def test_the_tables_and_figures_are_made_with_their_columns(wd):
    for name, columns in (("loss_recall", LOSS_RECALL_COLUMNS), ("consolidation", CONSOLIDATION_COLUMNS),
                          ("km_retention", RETENTION_KM_COLUMNS), ("stopping", STOPPING_COLUMNS),
                          ("stopping_series", STOPPING_SERIES_COLUMNS), ("learning_summary", LEARNING_SUMMARY_COLUMNS)):
        assert tuple(table(wd, name).columns) == columns, name
    facts = table(wd, "consolidation_facts")
    assert tuple(facts.columns[:len(CONSOLIDATION_FACT_COLUMNS)]) == CONSOLIDATION_FACT_COLUMNS
    assert "latent" in facts.columns  # the default grouping
    for stem in ("loss_recall", "retention", "stopping"):
        for ext in ("svg", "png"):
            assert (wd / f"{RUN}/figures/{stem}.{ext}").stat().st_size > 1000, (stem, ext)
    stopping = table(wd, "stopping").set_index("criterion")
    assert list(stopping.index) == ["loss_plateau", "validation_loss_min", "recall_plateau", "probe_recall_max",
                                    "control_drop", "last_epoch", "hindsight_best"]
    assert stopping.loc["last_epoch", "stop_epoch"] == 3  # runs.tiny.epochs
    series = table(wd, "stopping_series")
    assert series["validation_loss"].notna().all() and (series["validation_loss"] > 0).all()  # eval's gold_logprob
    assert pd.notna(stopping.loc["validation_loss_min", "stop_epoch"])


def test_loss_and_recall_are_those_of_epoch_sets(wd):
    loss = table(wd, "loss_recall").set_index("epoch")
    sets = table(wd, "epoch_sets")
    train = sets[sets["split"] == "train"].set_index("epoch")
    assert loss["recall"].tolist() == pytest.approx((train["correct"] / train["n"]).tolist())
    pd.testing.assert_series_equal(loss["train_loss"], train["train_loss"], check_names=False)
    stopping = table(wd, "stopping").set_index("criterion")
    assert stopping.loc["hindsight_best", "stop_epoch"] == train["best_epoch"].iloc[0]


def test_retention_is_the_time_to_forgetting_at_m1(wd):
    facts = table(wd, "consolidation_facts")
    ours = facts[(facts["baseline_correct"] == 0) & (facts["acquired"] == 1) & (facts["duration"] > 0)]
    theirs = table(wd, "forgetting")
    theirs = theirs[theirs["m"] == 1]
    for kind in ("acquisition", "generalization"):
        a, b = ours[ours["kind"] == kind], theirs[theirs["kind"] == kind]
        assert dict(zip(a["fact_id"], zip(a["duration"], a["event"]))) == \
            dict(zip(b["fact_id"], zip(b["duration"], b["event"]))), kind


def test_an_experiment_plans_its_pooled_tables(tmp_path):
    jobs = planned_jobs(make_workdir(tmp_path / "wf"), "--configfile", "tests/configs/tiny_experiment.yaml")
    assert jobs["experiment_learning_dynamics"] == 1 and jobs["learning_dynamics"] == 4, jobs
