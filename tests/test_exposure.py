"""Controlled prior exposure: the randomized dose, the corpus that delivers it, and the causal analysis."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from factsurv.analysis import causal
from factsurv.config import ConfigError
from factsurv.modeling.exposure import (
    ExposureSettings,
    LABEL_TEMPLATES,
    assign_doses,
    build_exposure,
    keyed_uniform,
)
from factsurv.tables import EXPOSURE_ASSIGNMENT_COLUMNS, PRIOR_EXPOSURE

NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}


def facts_frame(n: int = 40) -> pd.DataFrame:
    ids = [f"HP:{i:07d}" for i in range(1, n + 1)]
    return pd.DataFrame({"fact_id": [f"hpo:{t}" for t in ids], "ontology": "hpo", "term_id": ids,
                         "label": [f"Term number {i}" for i in range(n)],
                         "split": ["train" if i % 3 else "heldout" for i in range(n)]})


def test_settings_come_from_the_schema_and_refuse_bad_doses():
    s = ExposureSettings.from_params({})
    assert s.doses == (0, 1, 2, 4, 8, 16) and s.zipf_exponent == 0.5
    p = s.level_probabilities()
    assert p.sum() == pytest.approx(1) and all(np.diff(p) < 0)  # Zipf-like: fewer facts at higher doses
    with pytest.raises(ConfigError, match="doses"):
        ExposureSettings.from_params({"doses": [0, 2, 2]})
    with pytest.raises(ConfigError, match="unknown key"):
        ExposureSettings.from_params({"dose": [0, 1]})


def test_a_facts_dose_is_keyed_by_the_fact_not_by_the_others_or_their_order():
    s = ExposureSettings.from_params({"seed": 3})
    ids = [f"hpo:HP:{i:07d}" for i in range(200)]
    doses = dict(zip(ids, assign_doses(ids, s)))
    shuffled = list(reversed(ids[50:]))
    assert dict(zip(shuffled, assign_doses(shuffled, s))) == {f: doses[f] for f in shuffled}
    other = ExposureSettings.from_params({"seed": 4})
    assert list(assign_doses(ids, other)) != list(doses.values())


def test_dose_levels_follow_their_probabilities():
    s = ExposureSettings.from_params({"zipf_exponent": 1.0})
    ids = [f"go:GO:{i:07d}" for i in range(6000)]
    d = pd.Series(assign_doses(ids, s))
    assert set(d) <= set(s.doses)
    observed = d.value_counts(normalize=True).reindex(s.doses).to_numpy()
    assert np.abs(observed - s.level_probabilities()).max() < 0.025


def test_keyed_uniform_is_uniform_enough():
    u = np.array([keyed_uniform(0, "x", str(i)) for i in range(4000)])
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.02 and np.histogram(u, bins=4, range=(0, 1))[0].min() > 900


def test_the_corpus_states_each_identifier_exactly_dose_times_and_names_every_label():
    facts = facts_frame()
    s = ExposureSettings.from_params({"seed": 1, "label_documents": 2})
    assignment, docs = build_exposure(facts, s, NAMES, {("hpo", "HP:0000001"): "Parent term"})
    assert list(assignment.columns) == list(EXPOSURE_ASSIGNMENT_COLUMNS)
    assert assignment["dose"].sum() > 0
    for row in assignment.itertuples():
        mine = docs[docs["fact_id"] == row.fact_id]
        stating = mine[mine["text"].str.contains(re.escape(row.term_id))]
        assert len(stating) == row.dose
        assert set(stating["doc_id"]) == set(row.doc_ids.split()) if row.dose else row.doc_ids == ""
        labels = mine[mine["kind"].str.startswith("label")]
        assert len(labels) == 2 and not labels["text"].str.contains("HP:").any()
        assert labels["text"].str.contains(re.escape(facts.set_index("fact_id").loc[row.fact_id, "label"])).all()
        assert row.n_documents == row.dose + 2
    assert "\n\n" not in "".join(docs["text"])
    kinds = docs["kind"].str.replace(r"_\d+$", "", regex=True).value_counts()
    assert {"question", "statement", "label"} <= set(kinds.index)
    assert len(LABEL_TEMPLATES) >= 2


def test_question_share_zero_gives_statements_only():
    _, docs = build_exposure(facts_frame(), ExposureSettings.from_params({"question_share": 0.0}), NAMES)
    assert not (docs["kind"] == "question").any()
    _, docs = build_exposure(facts_frame(), ExposureSettings.from_params({"question_share": 1.0}), NAMES)
    ident = docs[~docs["kind"].str.startswith("label")]
    assert (ident["kind"] == "question").all() and ident["text"].str.startswith("Q: What is the").all()


# -- the causal analysis on planted trajectories ---------------------------------------------------
def planted(rows: list[tuple[str, str, int, int, list[int]]]) -> pd.DataFrame:
    """(fact_id, split, latent, dose, correct per epoch 0..E) → a trajectories-like table."""
    out = []
    for fid, split, latent, dose, correct in rows:
        for e, c in enumerate(correct):
            out.append({"fact_id": fid, "epoch": e, "correct": c, "split": split, "ontology": "hpo",
                        "latent": latent, "p_correct": 0.5 * latent, PRIOR_EXPOSURE: dose,
                        "annotation_count": 1.0 + len(out) % 7})
    return pd.DataFrame(out)


def test_per_fact_times_and_frames_by_hand():
    t = planted([
        ("a", "train", 0, 0, [0, 0, 1, 1, 0, 1]),  # acquired at 2 (lost at 4): event at 2
        ("b", "train", 1, 4, [1, 1, 1, 1, 1, 1]),  # known at baseline: not at risk; ITT time 0 + 1
        ("c", "train", 0, 1, [0, 0, 0, 0, 0, 0]),  # never: censored at 5 (ITT: 6)
        ("d", "heldout", 0, 16, [0, 1, 0, 0, 0, 0]),
    ])
    f = causal.per_fact(t).set_index("fact_id")
    assert f.loc["a", "first_right_after"] == 2 and f.loc["b", "first_right"] == 0
    assert pd.isna(f.loc["c", "first_right"]) and f.loc["d", "log2_dose"] == pytest.approx(np.log2(17))
    risk = causal.acquisition_frame(f.reset_index()).set_index("fact_id")
    assert sorted(risk.index) == ["a", "c"]
    assert (risk.loc["a", "duration"], risk.loc["a", "event"]) == (2, 1)
    assert (risk.loc["c", "duration"], risk.loc["c", "event"]) == (5, 0)
    itt = causal.itt_frame(f.reset_index()).set_index("fact_id")
    assert sorted(itt.index) == ["a", "b", "c"]
    assert (itt.loc["b", "duration"], itt.loc["b", "event"]) == (1, 1)
    assert (itt.loc["a", "duration"], itt.loc["c", "duration"], itt.loc["c", "event"]) == (3, 6, 0)

    base = causal.exposure_baseline(t)
    alls = base[base["split"] == "all"].set_index("dose")
    assert alls.loc[4, "known"] == 1 and alls.loc[4, "latent"] == 0  # greedy right: known, not latent
    curves = causal.exposure_curves(t).set_index(["dose", "epoch"])
    assert curves.loc[(0, 3), "recall"] == 1.0 and curves.loc[(0, 4), "recall"] == 0.0
    assert curves.loc[(0, 4), "cumulative_acquired"] == 1.0  # acquired stays acquired
    assert curves.loc[(4, 0), "n_at_risk"] == 0 and (16, 0) not in curves.index  # heldout not in curves


def synthetic(n: int, seed: int, through_latent: bool) -> pd.DataFrame:
    """Facts whose dose speeds acquisition either only through latent knowledge or directly."""
    rng = np.random.default_rng(seed)
    rows = []
    epochs = 8
    for i in range(n):
        dose = int(rng.choice([0, 1, 2, 4, 8, 16]))
        x = np.log2(1 + dose)
        latent = int(rng.random() < 0.1 + 0.2 * x)
        rate = 0.08 * np.exp(1.5 * latent) if through_latent else 0.08 * np.exp(0.5 * x)
        t = int(np.ceil(rng.exponential(1 / rate)))
        correct = [0] + [int(e >= t) for e in range(1, epochs + 1)]
        rows.append((f"f{i}", "train", latent, dose, correct))
    return planted(rows)


def test_dose_effect_and_mediated_share_recover_what_was_planted():
    med = causal.exposure_effect(synthetic(500, 0, through_latent=True), bootstrap=30, seed=0).set_index("estimand")
    assert med.loc["total", "estimate"] > 1.2 and med.loc["total", "lower_95"] > 1
    assert med.loc["mediated_share", "estimate"] > 0.7
    assert med.loc["latent_observational", "estimate"] > 2.5
    direct = causal.exposure_effect(synthetic(500, 1, through_latent=False), bootstrap=30, seed=0)
    d = direct.set_index("estimand")
    assert d.loc["total", "estimate"] > 1.3 and abs(d.loc["mediated_share", "estimate"]) < 0.3
    lat = direct[direct["estimand"] == "latent_adjusted"].iloc[0]
    assert lat["lower_95"] < 1 < lat["upper_95"]  # latent has no effect of its own here
    first = direct[(direct["estimand"] == "first_stage") & (direct["model"].str.contains("latent"))].iloc[0]
    assert first["estimate"] > 1 and first["p"] < 1e-6  # the dose raises latent knowledge
    bal = direct[direct["estimand"] == "balance"]
    assert len(bal) and (bal["estimate"].abs() < 0.2).all()


def test_no_variation_in_latent_is_said_not_hidden():
    t = synthetic(120, 2, through_latent=False).assign(latent=0)
    e = causal.exposure_effect(t, bootstrap=10, seed=0).set_index("estimand")
    assert pd.isna(e.loc["mediated_share", "estimate"])
    assert "does not vary" in e.loc["mediated_share", "note"]
    assert "not estimated" in e.loc["latent_observational", "note"]
    assert np.isfinite(e.loc["total", "estimate"])


def test_trajectories_without_exposure_are_refused():
    t = planted([("a", "train", 0, 0, [0, 1])]).assign(**{PRIOR_EXPOSURE: pd.NA})
    with pytest.raises(ValueError, match="no prior_exposure"):
        causal.per_fact(t)


def test_a_separated_first_stage_is_a_note_not_a_crash():
    # every dose-16 fact known at baseline, no dose-0 fact: the logistic MLE runs off to infinity
    rows = [(f"k{i}", "train", 0, 16, [1, 1]) for i in range(6)] + [(f"u{i}", "train", 0, 0, [0, i % 2]) for i in range(6)]
    e = causal.exposure_effect(planted(rows), bootstrap=0, seed=0)
    known = e[(e["estimand"] == "first_stage") & (e["model"].str.startswith("logit(known)"))].iloc[0]
    assert pd.isna(known["estimate"]) and "not estimated" in known["note"]


def test_the_adjusted_itt_removes_a_planted_chance_imbalance():
    # the dose does nothing; leading_zeros speeds acquisition and, by (planted) bad luck, goes with the dose
    rng = np.random.default_rng(5)
    rows, zeros = [], []
    for i in range(400):
        dose = int(rng.choice([0, 1, 2, 4, 8, 16]))
        z = int(rng.random() < 0.15 + 0.7 * (dose >= 4))
        t = int(np.ceil(rng.exponential(1 / (0.06 * np.exp(1.4 * z)))))
        rows.append((f"f{i}", "train", 0, dose, [0] + [int(e >= t) for e in range(1, 9)]))
        zeros.append(z)
    t = planted(rows)
    t["leading_zeros"] = t["fact_id"].map(dict(zip((r[0] for r in rows), zeros)))
    e = causal.exposure_effect(t, bootstrap=0, seed=0)
    itt = e[e["estimand"] == "itt"].iloc[0]
    adj = e[e["estimand"] == "itt_adjusted"]
    assert list(adj["covariate"]) == ["log2_dose"]  # only the dose's row is reported
    adj = adj.iloc[0]
    assert itt["lower_95"] > 1  # unadjusted: the imbalance looks like an effect of exposure
    assert adj["lower_95"] < 1 < adj["upper_95"] and adj["estimate"] < itt["estimate"]
    assert "leading_zeros" in adj["model"] and "annotation_count" in adj["model"]
    bal = e[(e["estimand"] == "balance") & (e["covariate"] == "leading_zeros")].iloc[0]
    assert bal["estimate"] > 0.3 and bal["p"] < 1e-6  # and the balance row shows it
