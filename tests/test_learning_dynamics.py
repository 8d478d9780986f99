"""Loss vs learning, consolidation and stopping criteria (factsurv.analysis.learning_dynamics and its
modules; docs/consolidation.md), each quantity checked by hand on a small planted evaluation table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factsurv.analysis.consolidation import (cluster_share, consolidation_facts, consolidation_table,
                                             fact_transitions, pooled_consolidation, retention_curves)
from factsurv.analysis.forgetting import forgetting_events
from factsurv.analysis.learning_dynamics import learning_dynamics
from factsurv.analysis.loss_recall import disagree_epochs, loss_recall_correlation, loss_recall_table
from factsurv.analysis.stopping import (StoppingSettings, control_stop, patience_stop, probe_split,
                                        stopping_series, stopping_table)
from factsurv.config import ConfigError, section_defaults
from factsurv.tables import (CONSOLIDATION_COLUMNS, LOSS_RECALL_COLUMNS, POOLED_CONSOLIDATION_COLUMNS,
                             STOPPING_COLUMNS)

#: greedy correctness at epochs 0..5 of six trained HPO facts and four withheld GO facts
PLANTED = {
    "hpo:A": ("train", "hpo", 1, [0, 0, 1, 1, 0, 1]),  # right at 2, 3, 5: the issue's example
    "hpo:B": ("train", "hpo", 1, [0, 1, 1, 1, 1, 1]),  # acquired at 1, kept
    "hpo:C": ("train", "hpo", 0, [0, 0, 0, 0, 0, 1]),  # acquired at the last epoch: no time at risk
    "hpo:D": ("train", "hpo", 0, [0, 0, 0, 0, 0, 0]),  # never
    "hpo:E": ("train", "hpo", 0, [1, 1, 0, 0, 1, 1]),  # known at baseline: not in the shares
    "hpo:F": ("train", "hpo", 1, [0, 1, 0, 1, 0, 0]),  # flip-flops, lost at the end
    "go:G1": ("heldout", "go", 0, [0, 0, 1, 1, 1, 1]),
    "go:G2": ("heldout", "go", 0, [0, 0, 0, 0, 0, 0]),
    "go:G3": ("heldout", "go", 1, [1, 1, 1, 0, 0, 0]),
    "go:G4": ("heldout", "go", 0, [0, 0, 0, 1, 0, 0]),
}
TRAIN_LOSS = {1: 2.0, 2: 1.5, 3: 1.2, 4: 1.0, 5: 1.1}
SELECTION = {"acquisition": {"splits": ["train"], "ontologies": None},
             "generalization": {"splits": ["heldout"], "ontologies": ["go"]}}


def trajectories(planted=PLANTED) -> pd.DataFrame:
    return pd.DataFrame([{"fact_id": f, "epoch": e, "correct": c, "split": s, "ontology": o, "latent": lat}
                         for f, (s, o, lat, cs) in planted.items() for e, c in enumerate(cs)])


def control(correct=(8, 8, 7, 6, 5, 5), n=10) -> pd.DataFrame:
    return pd.DataFrame({"kind": "arithmetic", "epoch": range(len(correct)), "n": n, "correct": list(correct)})


def settings(**changes) -> StoppingSettings:
    return StoppingSettings.from_params({**section_defaults("analysis")["learning_dynamics"]["stopping"], **changes})


# ------------------------------------------------------------------------------------------------
# Loss vs learning

def test_loss_and_recall_per_epoch_by_hand():
    t = loss_recall_table(trajectories(), TRAIN_LOSS).set_index("epoch")
    assert tuple(t.reset_index().columns) == LOSS_RECALL_COLUMNS
    # trained facts right: e0 E; e1 B E F; e2 A B; e3 A B F; e4 B E; e5 A B C E (of 6)
    assert list(t["correct"]) == [1, 3, 2, 3, 2, 4] and (t["n_trained"] == 6).all()
    assert t["recall"].tolist() == pytest.approx([1 / 6, 3 / 6, 2 / 6, 3 / 6, 2 / 6, 4 / 6])
    assert t["loss_change"].iloc[2:].tolist() == pytest.approx([-0.5, -0.3, -0.2, 0.1])
    assert math.isnan(t.loc[0, "train_loss"]) and math.isnan(t.loc[1, "loss_change"])
    assert t["recall_change"].iloc[1:].tolist() == pytest.approx([2 / 6, -1 / 6, 1 / 6, -1 / 6, 2 / 6])
    assert t["gained"].iloc[1:].tolist() == [2, 1, 1, 1, 2] and t["lost"].iloc[1:].tolist() == [0, 2, 0, 2, 0]
    assert t["recall_change"].iloc[1:].tolist() == pytest.approx(((t["gained"] - t["lost"]).iloc[1:] / 6).tolist())
    # the loss falls at 2, 3, 4 and rises at 5; the recall falls at 2 and 4
    assert t.loc[2, "agreement"] == "loss down, recall flat or down" and t.loc[3, "agreement"] == "loss down, recall up"
    assert t.loc[5, "agreement"] == "loss flat or up, recall up"
    assert disagree_epochs(t.reset_index()) == [2, 4]
    assert t["disagree"].iloc[2:].tolist() == [1, 0, 1, 0]


def test_a_flat_recall_disagrees_and_the_tolerance_widens_flat():
    planted = {"hpo:A": ("train", "hpo", 0, [0, 0, 1, 1]), "hpo:B": ("train", "hpo", 0, [0, 0, 0, 1])}
    loss = {1: 3.0, 2: 2.0, 3: 1.0}
    t = loss_recall_table(trajectories(planted), loss).set_index("epoch")
    assert t.loc[2, "disagree"] == 0 and t.loc[3, "disagree"] == 0  # recall 0 → ½ → 1
    strict = loss_recall_table(trajectories(planted), loss, tolerance=0.5).set_index("epoch")
    assert strict.loc[2, "disagree"] == 1 and strict.loc[3, "disagree"] == 1  # a gain of ½ counts as flat
    flat = {"hpo:A": ("train", "hpo", 0, [0, 1, 1, 1])}
    t = loss_recall_table(trajectories(flat), loss).set_index("epoch")
    assert t.loc[2, "disagree"] == 1 and t.loc[3, "disagree"] == 1  # loss falls, recall stays


def test_correlation_of_loss_decrease_and_recall_gain_by_hand():
    c = loss_recall_correlation(loss_recall_table(trajectories(), TRAIN_LOSS))
    x = np.array([0.5, 0.3, 0.2, -0.1])  # loss decrease at epochs 2..5
    y = np.array([-1, 1, -1, 2]) / 6  # recall gain
    dx, dy = x - x.mean(), y - y.mean()
    r = (dx * dy).sum() / math.sqrt((dx ** 2).sum() * (dy ** 2).sum())
    assert c["n"] == 4 and c["pearson"] == pytest.approx(r) and r < 0
    z, se = math.atanh(r), 1 / math.sqrt(4 - 3)
    assert c["pearson_lower_95"] == pytest.approx(math.tanh(z - 1.959964 * se))
    rx, ry = np.array([4, 3, 2, 1.0]), np.array([1.5, 3, 1.5, 4])  # ranks (ties averaged)
    assert c["spearman"] == pytest.approx(np.corrcoef(rx, ry)[0, 1])


def test_no_correlation_below_three_epochs():
    c = loss_recall_correlation(loss_recall_table(trajectories(), {1: 2.0, 2: 1.0, 3: 0.5}))
    assert c["n"] == 2 and math.isnan(c["pearson"]) and "needs 3" in c["note"]


# ------------------------------------------------------------------------------------------------
# Consolidation

def test_the_issue_example_two_acquisitions_one_loss_retained():
    f = fact_transitions([0, 0, 1, 1, 0, 1])
    assert f["n_acquisitions"] == 2 and f["n_losses"] == 1 and f["first_acquisition"] == 2
    assert f["losses_after"] == 1 and f["retained_at_end"] == 1 and f["consolidated"] == 0
    assert (f["duration"], f["event"]) == (2, 1)


@pytest.mark.parametrize("row,expected", [
    ([0, 1, 1, 1, 1, 1], dict(n_acquisitions=1, n_losses=0, losses_after=0, consolidated=1, duration=4, event=0)),
    ([0, 0, 0, 0, 0, 1], dict(n_acquisitions=1, first_acquisition=5, consolidated=1, duration=0, event=0)),
    ([1, 1, 0, 0, 1, 1], dict(n_acquisitions=1, n_losses=1, first_acquisition=4, losses_after=0, duration=1, event=0)),
    ([0, 1, 0, 1, 0, 0], dict(n_acquisitions=2, n_losses=2, losses_after=2, retained_at_end=0, duration=1, event=1)),
    ([0, 0, 0], dict(n_acquisitions=0, acquired=0)),
])
def test_fact_transitions(row, expected):
    got = fact_transitions(row)
    assert {k: got[k] for k in expected} == expected


def test_consolidation_shares_by_hand():
    facts = consolidation_facts(trajectories(), SELECTION, ["latent", "mastery"])
    assert "mastery" not in facts.columns  # not a per-fact column of these trajectories: left out
    t = consolidation_table(facts)
    assert tuple(t.columns) == CONSOLIDATION_COLUMNS
    acq = t[t["kind"] == "acquisition"].set_index("group")
    a = acq.loc["all"]
    # wrong at epoch 0: A B C D F; acquired A B C F; lost again A F; right at the end A B C; never lost B C
    assert (a["n_facts"], a["n_acquired"], a["acquisitions"]) == (5, 4, 6)
    assert a["acquired_share"] == 0.8 and a["acquisitions_per_acquired"] == 1.5
    assert (a["n_flip_flop"], a["n_retained"], a["n_consolidated"]) == (2, 3, 2)
    assert a["retained_share"] == 0.75 and a["consolidated_share"] == 0.5 and a["flip_flop_share"] == 0.5
    assert a["retained_lower_95"] < 0.75 < a["retained_upper_95"]
    # KM of A (2, lost), B (4, censored), F (1, lost): S(1) = 2/3, S(2) = 1/3 → median 2
    assert a["median_retention"] == 2
    lat, no = acq.loc["latent"], acq.loc["not latent"]
    assert (lat["n_facts"], lat["n_acquired"], lat["n_retained"], lat["n_consolidated"]) == (3, 3, 2, 1)
    assert (no["n_facts"], no["n_acquired"], no["n_retained"], no["n_consolidated"]) == (2, 1, 1, 1)
    gen = t[(t["kind"] == "generalization") & (t["group"] == "all")].iloc[0]
    assert (gen["n_facts"], gen["n_acquired"], gen["n_retained"], gen["n_flip_flop"]) == (3, 2, 1, 1)  # G1 G2 G4


def test_retention_curve_by_hand_and_the_same_as_forgetting_at_m1():
    traj = trajectories()
    facts = consolidation_facts(traj, SELECTION, ["latent"])
    km = retention_curves(facts, 5)
    all_ = km[(km["kind"] == "acquisition") & (km["group"] == "all")].set_index("epoch")
    assert all_.loc[0, "n_at_risk"] == 3  # C (acquired at the last epoch) has no time at risk
    assert all_["survival"].loc[[1, 2, 3]].tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert (all_["survival_lower_95"] <= all_["survival"]).all() and (all_["survival"] <= all_["survival_upper_95"]).all()
    # time to the first loss after the first acquisition = forgetting.py's m = 1 events
    ours = facts[(facts["kind"] == "acquisition") & (facts["baseline_correct"] == 0) & (facts["duration"] > 0)]
    theirs = forgetting_events(traj.assign(p_correct=0.0), "acquisition", splits=["train"], m=1)
    assert dict(zip(ours["fact_id"], zip(ours["duration"], ours["event"]))) == \
        dict(zip(theirs["fact_id"], zip(theirs["duration"], theirs["event"])))


def test_any_grouping_column_the_run_has_splits_the_shares():
    dose = pd.DataFrame({"fact_id": list(PLANTED), "exposure_dose": [4, 4, 0, 0, 0, 4, 0, 0, 0, 0]})
    facts = consolidation_facts(trajectories(), SELECTION, ["exposure_dose"], extra=dose)
    t = consolidation_table(facts).set_index(["kind", "group"])
    hi = t.loc[("acquisition", "exposure_dose=4")]  # A B F
    assert (hi["n_facts"], hi["n_acquired"], hi["n_retained"]) == (3, 3, 2)
    # no fact of dose 0 has time at risk after its acquisition (C: at the last epoch): no log-rank test
    assert math.isnan(t.loc[("acquisition", "exposure_dose=0"), "logrank_p"])
    gen = t.loc[("generalization", "exposure_dose=0")]  # G1 G2 G4: G1 kept, G4 lost
    assert (gen["n_acquired"], gen["n_retained"], gen["n_flip_flop"]) == (2, 1, 1)


# ------------------------------------------------------------------------------------------------
# Stopping criteria

def test_patience_rule_by_hand():
    recall = {0: 1 / 6, 1: 3 / 6, 2: 2 / 6, 3: 3 / 6, 4: 2 / 6, 5: 4 / 6}
    # best 3/6 at 1; 2 and 3 do not beat it → fires at 3 (patience 2), keeps 3, or 1 with restore
    assert patience_stop(recall, lower_is_better=False, patience=2, delta=0.01) == (3, 3, True)
    assert patience_stop(recall, lower_is_better=False, patience=2, restore=True) == (1, 3, True)
    assert patience_stop(recall, lower_is_better=False, patience=3) == (4, 4, True)  # 2, 3, 4 without a gain
    assert patience_stop(recall, lower_is_better=False, patience=4) == (5, 5, False)  # 5 beats 3/6: never fires
    # the loss improves until 4 and rises at 5: patience 2 never fires, patience 1 fires at 5
    assert patience_stop(TRAIN_LOSS, lower_is_better=True, patience=2, delta=0.01, relative=True) == (5, 5, False)
    assert patience_stop(TRAIN_LOSS, lower_is_better=True, patience=1, delta=0.01, relative=True) == (5, 5, True)
    # a relative tolerance of 30 %: 2.0 → 1.5 is 25 %, no improvement → fires at 2 with patience 1
    assert patience_stop(TRAIN_LOSS, lower_is_better=True, patience=1, delta=0.3, relative=True) == (2, 2, True)
    # 20 %: 2.0 → 1.5 improves; 1.5 → 1.2 is exactly 20 % (not more); 1.5 → 1.0 improves again
    assert patience_stop(TRAIN_LOSS, lower_is_better=True, patience=2, delta=0.2, relative=True) == (5, 5, False)
    assert patience_stop({}, lower_is_better=True, patience=2) == (None, None, False)


def test_control_drop_keeps_the_epoch_before():
    acc = {0: 0.8, 1: 0.8, 2: 0.7, 3: 0.6, 4: 0.5}
    assert control_stop(acc, 0.1) == (2, 3, True)  # 0.8 − 0.7 is not more than 0.1; 0.8 − 0.6 is
    assert control_stop(acc, 0.05) == (1, 2, True)
    assert control_stop(acc, 0.5) == (4, 4, False)
    assert control_stop({0: 0.4, 1: 0.0}, 0.1) == (0, 1, True)  # the base model is kept


def test_the_probe_set_is_keyed_and_disjoint():
    ids = [f"go:{i}" for i in range(20)]
    probe, rest = probe_split(ids, 0.25, 0)
    assert len(probe) == 5 and not set(probe) & set(rest) and set(probe) | set(rest) == set(ids)
    assert probe_split(list(reversed(ids)), 0.25, 0) == (probe, rest)
    assert probe_split(ids, 0.25, 1)[0] != probe
    # a fact's membership does not depend on the other facts: drop one of the others
    smaller = probe_split([f for f in ids if f != rest[-1]], 0.25, 0)[0]
    assert set(smaller) <= set(probe) | {rest[0]} or len(smaller) == len(probe)


def test_stopping_table_by_hand():
    s = settings(patience=2, control_drop=0.15, probe_share=0.5)
    traj = trajectories()
    series = stopping_series(traj, TRAIN_LOSS, s, SELECTION["generalization"], control())
    probe, rest = probe_split(["go:G1", "go:G2", "go:G3", "go:G4"], 0.5, s.probe_seed)
    rows = {f: PLANTED[f][3] for f in PLANTED}
    gen = [f for f in rest if rows[f][0] == 0]
    s_ = series.set_index("epoch")
    for e in range(6):
        assert s_.loc[e, "probe_recall"] == pytest.approx(np.mean([rows[f][e] for f in probe]))
        assert s_.loc[e, "generalization"] == pytest.approx(np.mean([rows[f][e] for f in gen]))
    t = stopping_table(series, s)
    assert tuple(t.columns) == STOPPING_COLUMNS
    t = t.set_index("criterion")
    assert (t.loc["recall_plateau", "stop_epoch"], t.loc["recall_plateau", "triggered"]) == (3, 1)
    assert (t.loc["loss_plateau", "stop_epoch"], t.loc["loss_plateau", "triggered"]) == (5, 0)
    assert "never fired" in t.loc["loss_plateau", "note"]
    # control 0.8 0.8 0.7 0.6 0.5 0.5: a drop of more than 0.15 first at 3 → keeps 2
    assert (t.loc["control_drop", "stop_epoch"], t.loc["control_drop", "epochs_trained"]) == (2, 3)
    assert t.loc["control_drop", "control_accuracy"] == pytest.approx(0.7)
    assert t.loc["last_epoch", "stop_epoch"] == 5 and t.loc["hindsight_best", "stop_epoch"] == 5  # 4/6 at 5
    assert pd.isna(t.loc["validation_loss_min", "stop_epoch"]) and "not estimated" in t.loc["validation_loss_min", "note"]
    r = t.loc["recall_plateau"]
    assert r["trained_recall"] == pytest.approx(3 / 6)
    assert r["trained_recall_vs_last"] == pytest.approx(-1 / 6) and r["trained_recall_vs_best"] == pytest.approx(-1 / 6)
    assert r["control_vs_last"] == pytest.approx(0.6 - 0.5)
    assert t.loc["probe_recall_max", "n_generalization"] == len(gen)


def test_a_validation_loss_given_is_used():
    s = settings(patience=2)
    series = stopping_series(trajectories(), TRAIN_LOSS, s, SELECTION["generalization"], control(),
                             validation_loss={0: 3.0, 1: 2.0, 2: 2.5, 3: 2.4, 4: 1.0, 5: 1.0})
    t = stopping_table(series, s).set_index("criterion")
    assert (t.loc["validation_loss_min", "stop_epoch"], t.loc["validation_loss_min", "epochs_trained"]) == (1, 3)


def test_settings_need_every_key():
    with pytest.raises(ConfigError, match="patience"):
        StoppingSettings.from_params({"loss_tolerance": 0.01})


def test_learning_dynamics_puts_it_together():
    ld = section_defaults("analysis")["learning_dynamics"]
    res = learning_dynamics(trajectories(), TRAIN_LOSS, selection=SELECTION, group_by=ld["group_by"],
                            recall_tolerance=ld["recall_tolerance"], stopping=settings(), control=control())
    s = res.summary.set_index(["analysis", "metric", "group"])
    assert s.loc[("loss_recall", "disagree_epochs", "trained"), "value"] == 2
    assert s.loc[("loss_recall", "disagree_epochs", "trained"), "note"] == "epochs 2, 4"
    assert s.loc[("consolidation_acquisition", "retained_share", "all"), "value"] == 0.75
    assert s.loc[("consolidation_acquisition", "consolidated_share", "latent: latent"), "value"] == pytest.approx(1 / 3)
    assert s.loc[("stopping", "stop_epoch", "hindsight_best"), "value"] == 5


# ------------------------------------------------------------------------------------------------
# Pooled over an experiment's runs

def test_cluster_share_by_hand():
    p, lo, hi = cluster_share(np.array([1, 0, 1, 1]), np.array(["a", "a", "b", "b"]))
    # residual sums by cluster −0.5 and 0.5; SE = √(2/1 · 0.5) / 4 = 0.25
    assert p == 0.75 and lo == pytest.approx(0.75 - 1.959964 * 0.25) and hi == 1.0
    assert math.isnan(cluster_share(np.array([1, 0]), np.array(["a", "a"]))[1])  # one cluster: no interval


def test_pooled_consolidation_over_two_runs():
    one = consolidation_facts(trajectories(), SELECTION, ["latent"])
    flipped = {f: (s, o, lat, [1 - c for c in cs]) for f, (s, o, lat, cs) in PLANTED.items()}
    two = consolidation_facts(trajectories(flipped), SELECTION, ["latent"])
    stacked = pd.concat([one.assign(run="r1"), two.assign(run="r2")], ignore_index=True)
    t = pooled_consolidation(stacked)
    assert tuple(t.columns) == POOLED_CONSOLIDATION_COLUMNS
    a = t[(t["kind"] == "acquisition") & (t["group"] == "all")].iloc[0]
    w1, w2 = one[(one["kind"] == "acquisition") & (one["baseline_correct"] == 0)], \
        two[(two["kind"] == "acquisition") & (two["baseline_correct"] == 0)]
    assert a["n_runs"] == 2 and a["n_facts"] == len(w1) + len(w2) and a["se_type"] == "cluster(run)"
    assert a["acquired_share"] == pytest.approx((w1["acquired"].sum() + w2["acquired"].sum()) / (len(w1) + len(w2)))
    lat = t[(t["kind"] == "acquisition") & (t["group_var"] == "latent")]
    assert len(lat) == 2 and lat["note"].str.len().gt(0).all()


def test_the_validation_loss_is_the_probe_sets_teacher_forced_loss_per_token():
    from factsurv.analysis.stopping import probe_split, selection_ids, validation_losses

    s = settings(patience=2)
    traj = trajectories()
    probe, rest = probe_split(selection_ids(traj, SELECTION["generalization"]), s.probe_share, s.probe_seed)
    rows = []
    for e, per_token in enumerate([3.0, 2.0, 2.5, 2.4, 1.0, 1.0]):
        for f in probe:  # 9 tokens each: the loss per token is the epoch's value
            rows.append({"fact_id": f, "epoch": e, "gold_logprob": -9 * per_token, "gold_tokens": 9})
        for f in rest:  # facts outside the probe set do not count
            rows.append({"fact_id": f, "epoch": e, "gold_logprob": -900.0, "gold_tokens": 9})
    gold = pd.DataFrame(rows)
    assert validation_losses(gold, probe) == pytest.approx({0: 3.0, 1: 2.0, 2: 2.5, 3: 2.4, 4: 1.0, 5: 1.0})
    series = stopping_series(traj, TRAIN_LOSS, s, SELECTION["generalization"], control(), gold=gold)
    t = stopping_table(series, s).set_index("criterion")
    assert (t.loc["validation_loss_min", "stop_epoch"], t.loc["validation_loss_min", "epochs_trained"]) == (1, 3)
    assert validation_losses(gold.drop(columns=["gold_logprob"]), probe) == {}
