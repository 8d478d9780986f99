"""The recurrent / multi-state view: time to the first forgetting after acquisition, under
stable_epochs m = 1 and m > 1, on hand-made trajectories; its summary rows and figure."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from factsurv.analysis.figures import plot_forgetting
from factsurv.analysis.forgetting import forgetting_curves, forgetting_events, forgetting_table
from factsurv.tables import FORGETTING_COLUMNS
from factsurv.analysis.summary import retention_rows

TRAIN = {"splits": ["train"], "ontologies": None}


def _traj(rows: dict[str, list[int]], split: str = "train", ontology: str = "hpo") -> pd.DataFrame:
    return pd.DataFrame([{"fact_id": f, "epoch": e, "correct": c, "split": split, "ontology": ontology,
                          "latent": int(f.startswith("L")), "p_correct": 0.0}
                         for f, cs in rows.items() for e, c in enumerate(cs)])


ROWS = {
    "a": [0, 1, 1, 1, 1, 1],  # acquired at 1, never lost: censored after 4 epochs
    "b": [0, 1, 0, 1, 0, 0],  # acquired at 1, lost at 2 (1 epoch), relearned at 3, lost again at 4
    "c": [0, 0, 1, 1, 0, 1],  # acquired at 2, lost at 4 (2 epochs), relearned at 5
    "d": [0, 0, 0, 0, 0, 1],  # acquired only at the last epoch: no time at risk
    "e": [1, 0, 1, 1, 1, 1],  # right at epoch 0: not at risk of acquisition
    "f": [0, 0, 0, 0, 0, 0],  # never acquired
}


def test_time_to_first_forgetting_m1():
    t = forgetting_events(_traj(ROWS), "acquisition", splits=["train"], m=1)
    assert list(t.columns) == list(FORGETTING_COLUMNS)
    t = t.set_index("fact_id")
    assert sorted(t.index) == ["a", "b", "c"]
    assert dict(t["acquired"]) == {"a": 1, "b": 1, "c": 2}
    assert dict(t["event"]) == {"a": 0, "b": 1, "c": 1}
    assert dict(t["duration"]) == {"a": 4, "b": 1, "c": 2}
    assert dict(t["n_forgettings"]) == {"a": 0, "b": 2, "c": 1}
    assert dict(t["n_relearnings"]) == {"a": 0, "b": 1, "c": 1}


def test_stable_epochs_start_the_clock_when_acquisition_is_confirmed():
    t = forgetting_events(_traj(ROWS), "acquisition", splits=["train"], m=2).set_index("fact_id")
    # b's first run of 2 correct epochs: none (1, 0, 1, 0, 0); a from 1 (confirmed at 2); c from 2 (at 3)
    assert sorted(t.index) == ["a", "c"]
    assert dict(t["acquired"]) == {"a": 1, "c": 2}
    assert dict(t["duration"]) == {"a": 3, "c": 1} and dict(t["event"]) == {"a": 0, "c": 1}


def test_table_has_m1_and_the_other_m_side_by_side_and_skips_too_long_m():
    traj = pd.concat([_traj(ROWS), _traj({"h1": [0, 1, 0, 0, 0, 0], "h2": [0, 0, 1, 1, 1, 1]}, "heldout", "go")])
    sel = {"acquisition": TRAIN, "generalization": {"splits": ["heldout"], "ontologies": ["go"]}}
    t = forgetting_table(traj, sel, [2, 9])
    assert sorted(set(zip(t["kind"], t["m"]))) == [("acquisition", 1), ("acquisition", 2),
                                                   ("generalization", 1), ("generalization", 2)]
    g1 = t[(t["kind"] == "generalization") & (t["m"] == 1)].set_index("fact_id")
    assert dict(g1["event"]) == {"h1": 1, "h2": 0}
    curves = forgetting_curves(t, 5)
    a1 = curves[(curves["kind"] == "acquisition") & (curves["m"] == 1)].set_index("epoch")
    # 3 at risk; b lost after 1 epoch, c after 2: S(1) = 2/3, S(2) = 1/3
    assert a1.loc[0, "n_at_risk"] == 3
    assert math.isclose(a1.loc[1, "survival"], 2 / 3) and math.isclose(a1.loc[2, "survival"], 1 / 3)
    rows = {(r["metric"], r["group"]): r for r in retention_rows(forgetting=t, forgetting_curves=curves)}
    share = rows[("forgetting_share", "acquisition/m=1")]
    assert math.isclose(share["value"], 2 / 3) and share["note"].startswith("2/3")
    assert "1 lost more than once" in share["note"]
    assert rows[("median_time_to_forgetting", "acquisition/m=1")]["value"] == 2
    assert rows[("median_time_to_forgetting", "acquisition/m=2")]["value"] == 1  # c lost of a, c: S(1) = 0.5
    assert math.isnan(rows[("median_time_to_forgetting", "generalization/m=2")]["value"])  # h2 never lost
    empty = retention_rows(forgetting=t.iloc[:0])
    assert len(empty) == 1 and empty[0]["metric"] == "forgetting_share" and math.isnan(empty[0]["value"])
    fig = plot_forgetting(curves, run="x")
    assert len(fig.axes) == 2


def test_wrong_kind_and_m():
    with pytest.raises(ValueError, match="forgetting after 'degradation'"):
        forgetting_events(_traj(ROWS), "degradation", splits=["train"])
    with pytest.raises(ValueError, match="stable_epochs"):
        forgetting_events(_traj(ROWS), "acquisition", splits=["train"], m=0)


def test_summary_rows_of_epoch_sets_and_control():
    from factsurv.analysis.epoch_sets import epoch_sets

    traj = pd.concat([_traj({"a": [0, 1, 1, 0], "b": [0, 1, 0, 1], "c": [0, 0, 1, 1]}),
                      _traj({"h": [0, 0, 1, 0]}, "heldout", "go")])
    conf = traj.assign(answer_logprob=-0.1, answer_tokens=1)  # every wrong answer is confident (p 0.90)
    sets = epoch_sets(traj, conf, 0.5, {1: 1.0, 2: 0.5, 3: 0.25})
    control = pd.DataFrame({"kind": "arithmetic", "epoch": [0, 1, 2, 3], "n": 10, "correct": [8, 5, 6, 4],
                            "accuracy": [0.8, 0.5, 0.6, 0.4], "lower_95": 0.1, "upper_95": 0.9, "chance": 0.05})
    rows = {(r["metric"], r["group"]): r for r in retention_rows(sets, control)}
    loss = rows[("train_loss", "final epoch")]
    assert loss["value"] == 0.25 and "epoch 1: 1" in loss["note"] and "Spearman(loss, trained recall) over epochs nan" in loss["note"]
    # forgotten at 2: b; at 3: a → 2 over 3 epochs; relearned: b at 3
    assert math.isclose(rows[("forgotten_per_epoch", "train")]["value"], 2 / 3)
    assert math.isclose(rows[("relearned_per_epoch", "train")]["value"], 1 / 3)
    assert rows[("best_epoch", "train")]["value"] == 1  # 2 right at epochs 1, 2 and 3: the first
    ce = rows[("confident_error_share", "heldout/epoch 3")]
    assert ce["value"] == 1.0 and "hallucination" in ce["note"]
    assert rows[("confident_error_share", "heldout/epoch 0")]["value"] == 1.0
    assert rows[("confident_error_share", "train/epoch 0")]["value"] == 1.0
    assert rows[("control_accuracy", "arithmetic/epoch 0")]["value"] == 0.8
    assert rows[("control_accuracy", "arithmetic/final epoch")]["value"] == 0.4
    assert rows[("control_accuracy", "arithmetic/lowest")]["note"].startswith("4/10; epoch 3")
