"""Training plans from designs (src/factsurv/designs.py) on a small facts table: counts per epoch,
formats, exposures, curricula, selection, per-run splits; the default plan is the earlier training."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from factsurv.designs import (
    build_plan,
    default_design,
    epoch_order,
    exposures_so_far,
    fact_key,
    read_plan,
    run_facts,
)
from factsurv.io import InputError, write_tsv
from factsurv.tables import MASTERY_LEVELS, PLAN_COLUMNS

NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}


def _facts(n_train: int = 20, n_heldout: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(n_train + n_heldout):
        onto = "hpo" if i % 2 == 0 else "go"
        rows.append({"fact_id": f"{onto}:{i:03d}", "ontology": onto,
                     "term_id": f"{'HP' if onto == 'hpo' else 'GO'}:{i:07d}", "label": f"term {i}",
                     "split": "train" if i < n_train else "heldout", "depth": i % 5})
    return pd.DataFrame(rows)


def _probe(facts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"fact_id": facts["fact_id"],
                         "mastery": [MASTERY_LEVELS[i % 4] for i in range(len(facts))]})


def design(**changes) -> dict:
    d = default_design()
    for key, value in changes.items():
        node = d
        *path, last = key.split("__")
        for k in path:
            node = node[k]
        node[last] = value
    return d


def plan_of(facts=None, epochs=4, seed=7, probe=None, **changes) -> pd.DataFrame:
    facts = _facts() if facts is None else facts
    return build_plan(facts, design(**changes), seed, epochs, NAMES, probe=probe)


def test_default_plan_is_the_earlier_training_one_question_per_fact_in_the_seeded_order():
    facts = _facts()
    plan = plan_of(facts, epochs=5, seed=3)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    train = list(facts.loc[facts["split"] == "train", "fact_id"])
    for e in range(1, 6):
        rows = plan[plan["epoch"] == e].sort_values("position")
        # the earlier recipe: examples in facts.tsv order, visited in epoch_order(n, seed, epoch)
        assert list(rows["fact_id"]) == [train[i] for i in epoch_order(len(train), 3, e)]
        assert set(rows["format"]) == {"question"} and set(rows["repeat"]) == {0}
        assert list(rows["position"]) == list(range(len(train)))
    assert len(plan) == 5 * len(train)


def test_mixed_shows_questions_and_statements_every_epoch_rotating_paraphrases():
    plan = plan_of(strategy="mixed", statements_per_epoch=2)
    per = plan.groupby(["epoch", "format"]).size().unstack()
    assert (per["question"] == 20).all() and (per["statement"] == 40).all()
    st = plan[plan["format"] == "statement"]
    f = st["fact_id"].iloc[0]
    kinds = st[st["fact_id"] == f].sort_values(["epoch", "repeat"])["kind"].tolist()
    assert len(set(kinds)) == 3  # all three templates over the epochs
    one = st[(st["fact_id"] == "hpo:000") & (st["epoch"] == 1)]
    assert all("HP:0000000" in t and "term 0" in t and "Human Phenotype Ontology" in t for t in one["text"])
    assert (plan.loc[plan["format"] == "question", "text"] == "").all()


def test_two_stage_statements_first_then_questions():
    plan = plan_of(epochs=5, strategy="two_stage", stage_epochs=2)
    formats = plan.groupby("epoch")["format"].agg(set).to_dict()
    assert formats == {1: {"statement"}, 2: {"statement"}, 3: {"question"}, 4: {"question"}, 5: {"question"}}
    assert (plan.groupby("epoch").size() == 20).all()


def test_two_stage_needs_an_epoch_of_questions():
    with pytest.raises(InputError, match="design.stage_epochs"):
        plan_of(epochs=3, strategy="two_stage", stage_epochs=3)


@pytest.mark.parametrize("strategy", ["qa", "mixed", "two_stage"])
def test_statement_only_facts_are_never_asked(strategy):
    facts = _facts()
    plan = plan_of(facts, strategy=strategy, stage_epochs=2, statement_only_share=0.25)
    rf = run_facts(facts, plan)
    only = set(rf.loc[rf["split"] == "statement_only", "fact_id"])
    assert len(only) == 5
    assert plan.loc[plan["fact_id"].isin(only), "format"].eq("statement").all()
    assert set(plan.loc[plan["format"] == "question", "fact_id"]) == set(rf.loc[rf["split"] == "train", "fact_id"])
    assert (rf.loc[rf["split"] == "heldout", "seen"] == 0).all()
    assert (rf.loc[rf["split"] != "heldout", "seen"] == 1).all()


def test_choices_are_keyed_by_fact_not_by_order():
    facts = _facts()
    shuffled = facts.sample(frac=1.0, random_state=1).reset_index(drop=True)
    kw = dict(statement_only_share=0.25, exposure__kind="power_law", curriculum__kind="warmup", select__n=12)
    a, b = run_facts(facts, plan_of(facts, **kw)), run_facts(shuffled, plan_of(shuffled, **kw))
    cols = ["split", "exposures", "first_exposure_epoch"]
    assert a.set_index("fact_id")[cols].sort_index().equals(b.set_index("fact_id")[cols].sort_index())
    # and they depend on the seed
    c = run_facts(facts, plan_of(facts, seed=8, **kw))
    assert not a["split"].equals(c["split"])


def test_power_law_repeats_follow_rank():
    facts = _facts()
    plan = plan_of(facts, epochs=2, exposure__kind="power_law", exposure__alpha=1.0, exposure__max_repeats=8,
                   exposure__rank_by="random")
    reps = plan[plan["epoch"] == 1].groupby("fact_id").size().sort_values(ascending=False).tolist()
    assert reps[:4] == [8, 4, 3, 2] and reps[-1] == 1 and sum(reps) == 8 + 4 + 3 + 2 + 2 + 1 * 15
    rf = run_facts(facts, plan)
    top = rf.sort_values("exposures", ascending=False).iloc[0]
    assert top["exposures"] == 16  # 8 per epoch over 2 epochs
    assert top["fact_id"] == min(facts.loc[facts["split"] == "train", "fact_id"], key=lambda f: fact_key(7, "exposure", f))


def test_power_law_by_covariate_gives_the_largest_the_most():
    facts = _facts()
    plan = plan_of(facts, epochs=2, exposure__kind="power_law", exposure__alpha=2.0, exposure__rank_by="depth")
    n = plan[plan["epoch"] == 1].groupby("fact_id").size()
    depth = facts.set_index("fact_id")["depth"]
    assert depth[n.idxmax()] == 4 and n.max() == 8
    uniform = plan_of(facts, epochs=2, exposure__alpha=2.0, exposure__rank_by="depth")
    assert (uniform.groupby(["epoch", "fact_id"]).size() == 1).all()


def test_warmup_curriculum_trains_a_share_alone_first():
    facts = _facts()
    plan = plan_of(facts, epochs=4, curriculum__kind="warmup", curriculum__share=0.25, curriculum__epochs=2)
    sizes = plan.groupby("epoch").size().to_dict()
    assert sizes == {1: 5, 2: 5, 3: 20, 4: 20}
    assert set(plan.loc[plan["epoch"] == 1, "fact_id"]) == set(plan.loc[plan["epoch"] == 2, "fact_id"])
    rf = run_facts(facts, plan).set_index("fact_id")
    assert sorted(rf["first_exposure_epoch"].dropna().value_counts().to_dict().items()) == [(1, 5), (3, 15)]
    # exposure so far: 0 before the first epoch a fact is shown
    late = rf.index[rf["first_exposure_epoch"] == 3][0]
    so_far = exposures_so_far(plan, pd.Series([late] * 5), pd.Series(range(5)))
    assert so_far.tolist() == [0, 0, 0, 1, 2]


def test_selection_by_mastery_and_size():
    facts = _facts()
    probe = _probe(facts)
    plan = plan_of(facts, probe=probe, select__mastery=["weakly_known"])
    trained = set(plan["fact_id"])
    level = probe.set_index("fact_id")["mastery"]
    assert trained and all(level[f] == "weakly_known" for f in trained)
    assert trained <= set(facts.loc[facts["split"] == "train", "fact_id"])
    rf = run_facts(facts, plan)
    assert (rf["split"] == "heldout").sum() == len(facts) - len(trained)
    sized = plan_of(facts, probe=probe, select__mastery=["unknown", "weakly_known"], select__n=4)
    assert sized["fact_id"].nunique() == 4
    assert set(level[sized["fact_id"].unique()]) <= {"unknown", "weakly_known"}
    with pytest.raises(InputError, match="design.select.n"):
        plan_of(facts, probe=probe, select__mastery=["unknown"], select__n=50)
    with pytest.raises(InputError, match="baseline probe"):
        plan_of(facts, select__mastery=["unknown"])


def test_plan_round_trips_through_tsv(tmp_path):
    plan = plan_of(strategy="mixed", statement_only_share=0.2)
    write_tsv(plan, tmp_path / "plan.tsv")
    back = read_plan(tmp_path / "plan.tsv")
    pd.testing.assert_frame_equal(back, plan, check_dtype=False)


def test_design_dicts_are_not_mutated():
    d = design(strategy="mixed")
    before = copy.deepcopy(d)
    build_plan(_facts(), d, 1, 3, NAMES)
    assert d == before


def test_trajectories_and_events_take_split_seen_and_exposure_from_the_plan():
    from factsurv.analysis.events import build_events
    from support.synthetic_study import simulate_study
    from factsurv.analysis.trajectories import build_trajectories

    st = simulate_study(counts={"hpo": {"train": 30, "heldout": 0}, "go": {"train": 20, "heldout": 20}},
                        epochs=4, seed=3)
    probe = st.baseline.assign(mastery=[MASTERY_LEVELS[i % 4] for i in range(len(st.baseline))])
    d = design(strategy="mixed", statement_only_share=0.2, exposure__kind="power_law",
               select__mastery=["unknown", "weakly_known", "maybe_known"])
    plan = build_plan(st.facts, d, 1, 5, NAMES, probe=probe)
    traj = build_trajectories(st.facts, st.literature, st.baseline, pd.concat(st.evals.values()), plan)
    first = traj[traj["epoch"] == 0].set_index("fact_id")
    rf = run_facts(st.facts, plan, epochs=4).set_index("fact_id")
    assert first["split"].equals(rf.loc[first.index, "split"])
    assert set(first["split"]) == {"train", "statement_only", "heldout"}
    # candidates of mastery highly_known are withheld by the selection: heldout and unseen
    level = probe.set_index("fact_id")["mastery"]
    assert (first.loc[level[first.index] == "highly_known", "seen"] == 0).all()
    # exposures count the 4 trained epochs, not the plan's 5
    assert first["exposures"].equals(rf.loc[first.index, "exposures"])
    assert (rf["exposures"] < run_facts(st.facts, plan)["exposures"].to_numpy()).any()
    last = traj[traj["epoch"] == 4].set_index("fact_id")
    assert last["exposures_so_far"].equals(last["exposures"].astype(last["exposures_so_far"].dtype))
    assert (first["exposures_so_far"] == 0).all()
    ev = build_events(traj, "generalization", splits=["statement_only"])
    assert len(ev) and set(ev["split"]) == {"statement_only"} and (ev["seen"] == 1).all() and (ev["exposures"] > 0).all()


def test_exposures_enter_the_cox_model_as_a_covariate():
    from factsurv.analysis.cox import CoxSettings, cox_table
    from factsurv.analysis.events import build_events
    from support.synthetic_study import simulate_study
    from factsurv.analysis.trajectories import build_trajectories
    from factsurv.config import section_defaults

    st = simulate_study(counts={"hpo": {"train": 120, "heldout": 0}, "go": {"train": 60, "heldout": 20}},
                        epochs=4, seed=5)
    plan = build_plan(st.facts, design(exposure__kind="power_law", exposure__alpha=0.5), 1, 5, NAMES)
    traj = build_trajectories(st.facts, st.literature, st.baseline, pd.concat(st.evals.values()), plan)
    ev = build_events(traj, "acquisition", splits=["train"])
    assert ev["exposures"].nunique() > 2
    settings = CoxSettings.from_params({**section_defaults("analysis")["cox"], "covariates": ["latent", "exposures"]})
    table, _ = cox_table(ev, settings)
    row = table[(table["model"] == "multivariable") & (table["covariate"] == "exposures")]
    assert len(row) == 1 and row["n"].iloc[0] == len(ev) and pd.notna(row["hr"].iloc[0])


def test_exposures_so_far_reaches_the_discrete_time_model_from_the_plan():
    """power_law and warm-up make the count so far differ between facts: the discrete-time model
    fits it; the default qa design does not: one row says why, and nothing fails."""
    from factsurv.analysis.cox import CoxSettings
    from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table, exposure_matrix
    from factsurv.analysis.events import build_events
    from support.synthetic_study import simulate_study
    from factsurv.analysis.trajectories import build_trajectories
    from factsurv.config import section_defaults

    analysis = section_defaults("analysis")
    cox = CoxSettings.from_params({**analysis["cox"], "covariates": ["latent", "exposures"]})
    dt = DiscreteTimeSettings.from_params(analysis["discrete_time"])
    st = simulate_study(counts={"hpo": {"train": 150, "heldout": 0}, "go": {"train": 90, "heldout": 0}},
                        epochs=4, seed=6)
    evals = pd.concat(st.evals.values())
    for d, varies in ((design(exposure__kind="power_law", exposure__alpha=0.5), True),
                      (design(curriculum__kind="warmup", curriculum__epochs=2), True),
                      (design(), False), (design(strategy="two_stage", stage_epochs=2), False)):
        plan = build_plan(st.facts, d, 1, 5, NAMES)
        traj = build_trajectories(st.facts, st.literature, st.baseline, evals, plan)
        ev = build_events(traj, "acquisition", splits=["train"])
        table, problems = cloglog_table(ev, cox, dt, exposure=exposure_matrix(traj))
        row = table[(table["model"] == "univariable") & (table["covariate"] == "exposures_so_far")].iloc[0]
        assert not problems
        if varies:
            assert row["converged"] == True and pd.notna(row["hr"]), d  # noqa: E712
            assert "multivariable + exposures_so_far" in set(table["model"])
        else:
            assert pd.isna(row["hr"]) and row["warning"].startswith("dropped"), d
            assert "multivariable + exposures_so_far" not in set(table["model"])
