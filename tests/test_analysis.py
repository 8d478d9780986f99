"""Unit tests of factsurv.analysis on DataFrames and small files (fast)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from factsurv.analysis.cox import CoxSettings, cox_table, fit_cox
from factsurv.config import section_defaults
from factsurv.analysis.dynamics import group_dynamics
from factsurv.analysis.events import build_events, event_times
from factsurv.analysis.inputs import load_evals
from factsurv.analysis.km import km_tables
from factsurv.analysis.summary import SummaryInputs, summary_table, wilson
from support.synthetic_study import simulate_study
from factsurv.analysis.trajectories import build_trajectories, trajectories_from_files
from factsurv.io import InputError, read_tsv, write_tsv

ANALYSIS_DEFAULTS = section_defaults("analysis")


def cox_settings(**over) -> CoxSettings:
    """The schema's analysis.cox defaults with ``over`` on top."""
    return CoxSettings.from_params({**ANALYSIS_DEFAULTS["cox"], **over})


SMALL = {"hpo": {"train": 60, "heldout": 0}, "go": {"train": 30, "heldout": 30}}


def _traj_from_matrix(rows: dict[str, list[int]], split: str = "train", latent: dict[str, int] | None = None) -> pd.DataFrame:
    """Trajectories with the given correctness sequences (epoch 0..E) and neutral covariates."""
    out = []
    for fid, seq in rows.items():
        for e, c in enumerate(seq):
            out.append({"fact_id": fid, "epoch": e, "correct": c, "split": split, "ontology": "hpo",
                        "latent": (latent or {}).get(fid, 0), "p_correct": 0.0, "namespace": None, "depth": 3,
                        "n_descendants": 0, "n_synonyms": 0, "label_chars": 10, "label_words": 2,
                        "leading_zeros": 3, "annotation_count": 5, "identifier_frequency": np.nan,
                        "term_frequency": np.nan})
    return pd.DataFrame(out)


# --- events -----------------------------------------------------------------------------------

def test_event_times_first_correct_and_censoring():
    traj = _traj_from_matrix({
        "a": [0, 0, 1, 1, 0],  # acquired at 2
        "b": [0, 0, 0, 0, 0],  # censored at 4
        "c": [0, 1, 0, 1, 1],  # acquired at 1 (m=1), stably at 3 (m=2)
        "d": [1, 1, 0, 0, 1],  # correct at baseline: not at risk of acquisition; degrades at 2
    })
    acq = build_events(traj, "acquisition", splits=["train"]).set_index("fact_id")
    assert sorted(acq.index) == ["a", "b", "c"]
    assert acq.loc["a", ["duration", "event"]].tolist() == [2, 1]
    assert acq.loc["b", ["duration", "event"]].tolist() == [4, 0]
    assert acq.loc["c", ["duration", "event"]].tolist() == [1, 1]
    stable = build_events(traj, "acquisition", splits=["train"], m=2).set_index("fact_id")
    assert stable.loc["a", ["duration", "event"]].tolist() == [2, 1]
    assert stable.loc["c", ["duration", "event"]].tolist() == [3, 1]
    # with m=2 the last epoch that can start a stable run is E - m + 1 = 3: censored there
    assert stable.loc["b", ["duration", "event"]].tolist() == [3, 0]
    deg = build_events(traj, "degradation", splits=["train"]).set_index("fact_id")
    assert list(deg.index) == ["d"]
    assert deg.loc["d", ["duration", "event", "seen"]].tolist() == [2, 1, 1]


def test_event_times_rejects_m_longer_than_run():
    correct = pd.DataFrame([[0, 1, 1]], columns=[0, 1, 2], index=["a"])
    with pytest.raises(ValueError, match="stable_epochs"):
        event_times(correct, target=1, m=3)


def test_generalization_selects_withheld_facts_of_given_ontologies():
    st = simulate_study(counts=SMALL, epochs=4, seed=3)
    traj = build_trajectories(st.facts, st.literature, st.baseline, pd.concat(st.evals.values()))
    gen = build_events(traj, "generalization", splits=["heldout"], ontologies=["go"])
    assert set(gen["split"]) == {"heldout"} and set(gen["ontology"]) == {"go"}
    base = traj[traj["epoch"] == 0].set_index("fact_id")
    assert (base.loc[gen["fact_id"], "correct"] == 0).all()
    assert len(gen) == int(((base["split"] == "heldout") & (base["correct"] == 0)).sum())


# --- Cox ----------------------------------------------------------------------------------------

def _exp_events(n: int, hr: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    t = rng.exponential(1 / (0.1 * hr ** x))
    d = np.minimum(np.ceil(t), 10).astype(int)
    return pd.DataFrame({"fact_id": [f"f{i}" for i in range(n)], "duration": np.maximum(d, 1),
                         "event": (t <= 10).astype(int), "latent": x, "ontology": "hpo",
                         "depth": rng.integers(1, 10, n), "identifier_frequency": np.nan})


def test_cox_recovers_hazard_ratio_on_dataframe():
    ev = _exp_events(800, 2.5, seed=0)  # fixed seed: the 95% CI covers 2.5 in ~90-95% of seeds (tied times)
    table, problems = cox_table(ev, cox_settings(covariates=["latent", "depth"], standardize=["depth"]))
    row = table[(table["model"] == "multivariable") & (table["covariate"] == "latent")].iloc[0]
    assert not problems
    assert row["converged"] == True  # noqa: E712
    assert row["hr_lower_95"] < 2.5 < row["hr_upper_95"]
    assert row["p"] < 1e-6
    assert 0 <= row["ph_test_p"] <= 1


def test_cox_drops_constant_and_all_na_covariates_with_a_note(caplog):
    ev = _exp_events(200, 1.0, seed=2)
    ev["depth"] = 4
    with caplog.at_level(logging.WARNING, logger="factsurv"):
        table, _ = cox_table(ev, cox_settings(covariates=["latent", "depth", "identifier_frequency"]))
    uni = table[table["model"] == "univariable"].set_index("covariate")
    assert uni.loc["depth", "warning"].startswith("dropped: no variation")
    assert uni.loc["identifier_frequency", "warning"].startswith("dropped: no data")
    assert np.isnan(uni.loc["depth", "hr"])
    assert uni.loc["latent", "converged"] == True  # noqa: E712
    assert "no variation" in caplog.text and "no data" in caplog.text


def test_cox_perfect_separation_is_flagged_not_reported(caplog):
    ev = _exp_events(300, 1.0, seed=4)
    ev["separator"] = ev["event"]  # every event has separator=1, every censored fact 0
    ev = ev.rename(columns={"separator": "leading_zeros"})
    with caplog.at_level(logging.WARNING, logger="factsurv"):
        table, problems = cox_table(ev, cox_settings(covariates=["latent", "leading_zeros"]))
    for model in ("univariable", "multivariable"):
        row = table[(table["model"] == model) & (table["covariate"] == "leading_zeros")].iloc[0]
        assert row["converged"] == False  # noqa: E712
        assert "separation" in row["warning"]
        assert np.isnan(row["hr"]) and np.isnan(row["hr_upper_95"])
    assert any("separation" in p for p in problems)
    assert "NOT CONVERGED" in caplog.text and "separation" in caplog.text
    ok = table[(table["model"] == "univariable") & (table["covariate"] == "latent")].iloc[0]
    assert ok["converged"] == True  # noqa: E712; the other univariable model is unaffected


def test_fit_cox_retries_with_smaller_step_when_first_attempt_fails():
    ev = _exp_events(400, 2.0, seed=5)
    # max_abs_coef below the true coefficient makes every attempt "fail": all are tried and reported
    res = fit_cox(ev, ["latent"], step_size=None, retry_step_sizes=[0.1, 0.02], max_abs_coef=0.05)
    assert not res.converged
    assert len(res.problems) == 3  # default step, 0.1, 0.02
    assert "step_size=0.1" in res.problems[1]
    good = fit_cox(ev, ["latent"], step_size=0.5, retry_step_sizes=[0.1])
    assert good.converged and good.step_size == 0.5


def test_estimate_checks_name_the_non_finite_and_the_huge_estimates():
    from factsurv.analysis.cox import estimate_problems

    assert estimate_problems(["a"], [0.5], [0.1], [0.9], 10.0) == []
    out = estimate_problems(["a", "b", "c"], [np.nan, 0.3, 12.0], [-1.0, 0.1, 11.0], [1.0, np.inf, 13.0], 10.0)
    assert out == ["non-finite estimate or confidence interval (diverged): a, b",
                   "|coef| > 10 (HR beyond e^10): c=12.0"]


def test_cox_and_cloglog_reject_a_coefficient_beyond_max_abs_coef_in_the_same_words():
    from factsurv.analysis.cox import build_design
    from factsurv.analysis.discrete_time import fit_cloglog

    ev = _exp_events(400, 2.0, seed=5)  # log HR about 0.7
    cox = fit_cox(ev, ["latent"], retry_step_sizes=[], max_abs_coef=0.05)
    design = build_design("univariable", ev, ["latent"], cox_settings(covariates=["latent"]))
    _, problems = fit_cloglog(design, max_abs_coef=0.05)
    words = r"\|coef\| > 0\.05 \(HR beyond e\^0\.05\): latent=0\.\d"
    assert not cox.converged and len(cox.attempts) == 1 and len(problems) == 1
    assert re.fullmatch(words, cox.attempts[0][1][0]) and re.fullmatch(words, problems[0]), (cox.attempts, problems)


def test_cox_ontology_covariate_and_subset_model():
    ev = _exp_events(400, 2.0, seed=6)
    ev["ontology"] = np.where(np.arange(400) % 3 == 0, "go", "hpo")
    table, _ = cox_table(ev, cox_settings(covariates=["latent"]), extra_covariates=["ontology"],
                         subsets={"hpo_only": ["hpo"]})
    assert "ontology[go]" in set(table["covariate"])  # hpo (largest) is the reference
    sub = table[table["model"] == "multivariable:hpo_only"].set_index("covariate")
    assert sub.loc["latent", "n"] == int((ev["ontology"] == "hpo").sum())
    assert sub.loc["ontology", "warning"] == "dropped: no variation (one level: hpo)"
    assert np.isnan(sub.loc["ontology", "hr"])


# --- KM, dynamics, summary ----------------------------------------------------------------------

def test_km_and_logrank():
    ev = _exp_events(400, 3.0, seed=7)
    km, lr = km_tables(ev, ["latent"])
    assert set(km["group"]) == {"all", "latent", "not latent"}
    lat = km[km["group"] == "latent"].set_index("epoch")
    assert lat.loc[0, "n_at_risk"] == int((ev["latent"] == 1).sum())
    assert lat.loc[0, "cumulative"] == 0
    assert (np.diff(lat["cumulative"]) >= -1e-12).all()
    # KM without censoring before e equals the empirical share
    e = 1
    emp = ((ev["latent"] == 1) & (ev["duration"] <= e) & (ev["event"] == 1)).sum() / (ev["latent"] == 1).sum()
    assert lat.loc[e, "cumulative"] == pytest.approx(emp)
    assert lr.iloc[0]["p"] < 1e-6
    one = km_tables(ev.assign(latent=0), ["latent"])[1].iloc[0]
    assert np.isnan(one["p"]) and "one group" in one["note"]


def test_group_dynamics_peak_and_convergence():
    d = np.array([1, 2, 2, 2, 3, 5, 5, 5, 5, 5])
    ev = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    g = group_dynamics(d, ev, last_epoch=5, convergence_share=0.95).set_index("epoch")
    assert g.loc[2, "newly"] == 3 and g.loc[2, "share_new"] == pytest.approx(0.3)
    assert g["peak_epoch"].iloc[0] == 2 and g["peak_share"].iloc[0] == pytest.approx(0.3)
    assert g.loc[5, "cumulative_share"] == pytest.approx(0.6)
    assert g["convergence_epoch"].iloc[0] == 5  # 0.5 at epoch 3 < 0.95 * 0.6
    g2 = group_dynamics(d, ev, last_epoch=5, convergence_share=0.8)
    assert g2["convergence_epoch"].iloc[0] == 3  # 0.5 ≥ 0.8 * 0.6


def test_wilson_interval():
    p, lo, hi = wilson(5, 100)
    assert p == 0.05 and 0.02 < lo < 0.05 < hi < 0.12
    assert np.isnan(wilson(0, 0)[0])


def test_summary_headline_numbers_match_inputs():
    st = simulate_study(counts=SMALL, epochs=5, seed=8)
    traj = build_trajectories(st.facts, st.literature, st.baseline, pd.concat(st.evals.values()))
    events = {k: build_events(traj, k, splits=s) for k, s in
              [("acquisition", ["train"]), ("generalization", ["heldout"]), ("degradation", ["train", "heldout"])]}
    cox, _ = cox_table(events["acquisition"], cox_settings(covariates=["latent"]))
    lr = {k: km_tables(v, ["seen" if k == "degradation" else "latent"])[1] for k, v in events.items()}
    from factsurv.analysis.dynamics import dynamics_table
    s = summary_table(SummaryInputs(traj, events, cox, lr, dynamics_table(events), demo=True))
    base = s[(s["metric"] == "baseline_greedy_recall") & (s["group"] == "hpo/train")].iloc[0]
    hpo0 = traj[(traj["ontology"] == "hpo") & (traj["epoch"] == 0)]["correct"].mean()
    assert base["value"] == pytest.approx(hpo0)
    hr = s[(s["metric"] == "hr_latent_acquisition") & (s["group"] == "multivariable")].iloc[0]
    crow = cox[(cox["model"] == "multivariable") & (cox["covariate"] == "latent")].iloc[0]
    assert hr["value"] == pytest.approx(crow["hr"])
    assert "demo model" in s[s["metric"] == "model"].iloc[0]["note"]
    deg = s[(s["metric"] == "degradation_share") & (s["group"] == "go/unseen")].iloc[0]
    ev = events["degradation"]
    go = ev[ev["ontology"] == "go"]
    assert deg["value"] == pytest.approx(go.loc[go["seen"] == 0, "event"].mean())
    assert "headline" in deg["note"]
    # every HPO fact is trained: pooling seen/unseen over ontologies would confound seen with ontology
    assert "unseen" not in set(s.loc[s["metric"] == "degradation_share", "group"])
    pooled = s[(s["metric"] == "degradation_share") & (s["group"] == "pooled")].iloc[0]
    assert "hpo" in pooled["note"] and np.isnan(pooled["value"])


def _every_summary_input() -> SummaryInputs:
    """Every table the summary rule reads, from a synthetic study whose answers flicker (so that the
    stable_epochs definitions and forgetting differ), with confidences, losses and control items."""
    from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table
    from factsurv.analysis.dynamics import dynamics_table
    from factsurv.analysis.epoch_sets import epoch_sets
    from factsurv.analysis.forgetting import forgetting_curves, forgetting_table
    from factsurv.analysis.multiple_testing import qvalue_table

    st = simulate_study(counts={"hpo": {"train": 120, "heldout": 0}, "go": {"train": 80, "heldout": 60}},
                        epochs=6, seed=21)
    evals = pd.concat(st.evals.values())
    traj = build_trajectories(st.facts, st.literature, st.baseline, evals)
    rng = np.random.default_rng(3)
    flip = (traj["epoch"] > 0) & (rng.random(len(traj)) < 0.08)
    traj.loc[flip, "correct"] = 1 - traj.loc[flip, "correct"]
    sel = {"acquisition": {"splits": ["train"]}, "generalization": {"splits": ["heldout"], "ontologies": ["go"]},
           "degradation": {"splits": ["train", "heldout"]}}
    events = {k: build_events(traj, k, splits=v["splits"], ontologies=v.get("ontologies")) for k, v in sel.items()}
    cs = cox_settings(covariates=["latent", "depth"])
    cox = {"acquisition": cox_table(events["acquisition"], cs)[0],
           "generalization": cox_table(events["generalization"], cs)[0],
           "degradation": cox_table(events["degradation"], cox_settings(covariates=["seen", "depth"]))[0]}
    dt = DiscreteTimeSettings.from_params(dict(ANALYSIS_DEFAULTS["discrete_time"]))
    conf = evals.assign(answer_tokens=rng.integers(1, 5, len(evals)))
    conf["answer_logprob"] = -rng.exponential(0.8, len(conf)) * conf["answer_tokens"]
    control = pd.DataFrame([{"kind": k, "epoch": e, "n": 40, "correct": c, "accuracy": c / 40,
                             "lower_95": c / 40 - 0.1, "upper_95": c / 40 + 0.1, "chance": chance}
                            for k, chance in (("arithmetic", 0.0), ("multiple_choice", 0.25))
                            for e, c in zip(range(7), rng.integers(5, 35, 7))])
    forgetting = forgetting_table(traj, sel, [1, 2])
    return SummaryInputs(
        trajectories=traj, events=events, cox_acquisition=cox["acquisition"],
        logrank={k: km_tables(v, ["seen" if k == "degradation" else "latent"])[1] for k, v in events.items()},
        dynamics=dynamics_table(events, bootstrap=20, seed=1), cox=cox, qvalues=qvalue_table(cox),
        cloglog=cloglog_table(events["acquisition"], cs, dt, cox=cox["acquisition"])[0],
        epoch_sets=epoch_sets(traj, conf, 0.5, {e: 2.0 / (1 + e) + 0.01 * e for e in range(7)}),
        control=control, forgetting=forgetting, forgetting_curves=forgetting_curves(forgetting, 6),
        demo=True, selection=sel, compare_stable_epochs=[1, 2, 3, 9], cox_settings=cs)


def test_summary_of_every_input_has_its_blocks_in_order_with_the_inputs_values():
    inputs = _every_summary_input()
    s = summary_table(inputs)
    assert list(s.columns) == ["metric", "group", "value", "lower_95", "upper_95", "p", "note", "q", "ph_p", "flag"]
    blocks = list(dict.fromkeys(s["metric"]))  # each metric's first row, in table order
    assert blocks == [
        "model", "epochs", "baseline_greedy_recall", "final_recall", "latent_share", "latent_share_of_wrong",
        "hr_latent_acquisition", "hr_latent_acquisition_cloglog", "hr_seen_degradation", "generalization_share",
        "degradation_share", "logrank_acquisition", "logrank_generalization", "logrank_degradation",
        "peak_share_new", "peak_epoch", "convergence_epoch", "rmst", "median_time",
        "acquisition_share_by_definition", "hr_latent_acquisition_by_definition",
        "generalization_share_by_definition", "hr_latent_generalization_by_definition",
        "train_loss", "forgotten_per_epoch", "relearned_per_epoch", "best_epoch", "confident_error_share",
        "control_accuracy", "forgetting_share", "median_time_to_forgetting"]
    by = s.set_index(["metric", "group"])
    # recall, shares: per ontology/split, the four rows of one group together
    assert list(s.loc[2:5, "group"]) == ["go/heldout"] * 4
    traj = inputs.trajectories
    last = traj[(traj["epoch"] == 6) & (traj["ontology"] == "hpo")]
    assert by.loc[("final_recall", "hpo/train"), "value"] == pytest.approx(last["correct"].mean())
    assert by.loc[("final_recall", "hpo/train"), "note"] == f"{int(last['correct'].sum())}/{len(last)}; epoch 6"
    for model in ("univariable", "multivariable"):
        cl = _get(inputs.cloglog, model, "latent")
        assert by.loc[("hr_latent_acquisition_cloglog", model), "value"] == pytest.approx(cl["hr"])
        q = inputs.qvalues.set_index(["kind", "model", "covariate"]).loc[("degradation", model, "seen"), "q"]
        assert by.loc[("hr_seen_degradation", model), "q"] == pytest.approx(q)
        hr = by.loc[("hr_latent_acquisition", model)]
        assert hr["value"] == pytest.approx(_get(inputs.cox_acquisition, model, "latent")["hr"])
        assert hr["note"].startswith("n=") and hr["flag"] != "not converged" and np.isfinite(hr["ph_p"])
    # a stable_epochs m longer than the run is one NA row; longer runs of correct answers are rarer
    assert by.loc[("acquisition_share_by_definition", "m=9"), "note"] == "run has only 6 epochs"
    shares = [by.loc[("acquisition_share_by_definition", f"all/m={m}"), "value"] for m in (1, 2, 3)]
    assert shares == sorted(shares, reverse=True) and shares[0] > shares[2]
    sets = inputs.epoch_sets
    assert by.loc[("train_loss", "final epoch"), "value"] == pytest.approx(2.0 / 7 + 0.06)
    held = sets[sets["split"] == "heldout"].set_index("epoch")
    assert by.loc[("confident_error_share", "heldout/epoch 6"), "value"] == pytest.approx(
        held.loc[6, "confident_errors"] / held.loc[6, "n"])
    assert by.loc[("forgotten_per_epoch", "train"), "value"] == pytest.approx(
        sets[(sets["split"] == "train") & (sets["epoch"] >= 1)]["forgotten"].mean())
    arith = inputs.control[inputs.control["kind"] == "arithmetic"]
    assert by.loc[("control_accuracy", "arithmetic/lowest"), "value"] == arith["accuracy"].min()
    assert by.loc[("control_accuracy", "arithmetic/epoch 0"), "note"].endswith("base model; chance 0")
    f = inputs.forgetting
    one = f[(f["kind"] == "acquisition") & (f["m"] == 1)]
    assert by.loc[("forgetting_share", "acquisition/m=1"), "value"] == pytest.approx(one["event"].mean())
    # without the optional tables, those rows are absent and the rest is the same table
    plain = summary_table(SummaryInputs(inputs.trajectories, inputs.events, inputs.cox_acquisition, inputs.logrank,
                                        inputs.dynamics, demo=True))
    assert set(plain["metric"]) < set(s["metric"]) and "control_accuracy" not in set(plain["metric"])
    kept = s[s["metric"].isin(set(plain["metric"]) - {"hr_latent_acquisition"})]
    pd.testing.assert_frame_equal(
        kept.reset_index(drop=True), plain[plain["metric"] != "hr_latent_acquisition"].reset_index(drop=True))


# --- bad inputs ---------------------------------------------------------------------------------

@pytest.fixture()
def small_files(tmp_path):
    st = simulate_study(counts=SMALL, epochs=3, seed=9)
    paths = st.write(tmp_path, "r")
    evals = [paths[f"epoch_{e}"] for e in range(4)]
    return paths, evals


def test_trajectories_from_files(small_files):
    paths, evals = small_files
    traj = trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)
    assert len(traj) == 120 * 4
    assert set(traj.columns) >= {"fact_id", "epoch", "correct", "split", "ontology", "latent", "p_correct",
                                 "annotation_count", "identifier_frequency"}


def test_missing_epoch_is_an_input_error(small_files):
    paths, evals = small_files
    with pytest.raises(InputError, match=r"missing for epoch\(s\) \[2\]"):
        trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"],
                                [evals[0], evals[1], evals[3]], epochs=3)
    with pytest.raises(InputError, match=r"missing for epoch\(s\) \[3\]"):  # run has 3 epochs, file of 3 absent
        load_evals(evals[:3], read_tsv(paths["facts"]), epochs=3)


def test_wrong_epoch_value_names_file_and_line(small_files):
    paths, evals = small_files
    df = read_tsv(evals[2])
    df.loc[4, "epoch"] = 7
    write_tsv(df, evals[2])
    with pytest.raises(InputError) as err:
        trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)
    assert str(evals[2]) in str(err.value) and "line 6" in str(err.value)


def test_unknown_fact_id_names_file_and_line(small_files):
    paths, evals = small_files
    df = read_tsv(evals[1], dtype={"fact_id": str})
    df.loc[9, "fact_id"] = "hpo:HP:9999999x"
    write_tsv(df, evals[1])
    with pytest.raises(InputError) as err:
        trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)
    msg = str(err.value)
    assert str(evals[1]) in msg and "line 11" in msg and "hpo:HP:9999999x" in msg and "facts.tsv" in msg


def test_non_boolean_correct_names_file_and_line(small_files):
    paths, evals = small_files
    df = read_tsv(evals[3], dtype=str)
    df.loc[0, "correct"] = "maybe"
    write_tsv(df, evals[3])
    with pytest.raises(InputError) as err:
        trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)
    msg = str(err.value)
    assert str(evals[3]) in msg and "line 2" in msg and "'maybe'" in msg and "correct" in msg


def test_baseline_latent_must_be_binary(small_files):
    paths, evals = small_files
    df = read_tsv(paths["baseline"], dtype=str)
    df.loc[3, "latent"] = "2"
    write_tsv(df, paths["baseline"])
    with pytest.raises(InputError, match=r"baseline.tsv: line 5 .*latent"):
        trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)


def test_missing_literature_is_logged_and_dropped(small_files, caplog):
    paths, evals = small_files
    lit = read_tsv(paths["literature"])
    lit["identifier_frequency"] = np.nan
    lit["term_frequency"] = np.nan
    write_tsv(lit, paths["literature"])
    with caplog.at_level(logging.WARNING, logger="factsurv"):
        traj = trajectories_from_files(paths["facts"], paths["literature"], paths["baseline"], evals, epochs=3)
    assert "identifier_frequency is missing for every fact" in caplog.text
    ev = build_events(traj, "acquisition", splits=["train"])
    table, _ = cox_table(ev, cox_settings(covariates=["latent", "identifier_frequency"]))
    row = table[(table["model"] == "multivariable") & (table["covariate"] == "identifier_frequency")].iloc[0]
    assert row["warning"].startswith("dropped: no data")


def test_collinear_covariate_is_dropped_with_a_note():
    """Two covariates that are (nearly) the same variable: the second is dropped from the
    multivariable model with a note, instead of two exploding hazard ratios."""
    rng = np.random.default_rng(4)
    n = 400
    x = rng.poisson(5, n).astype(float)
    ev = pd.DataFrame({
        "fact_id": [f"f{i}" for i in range(n)],
        "duration": rng.integers(1, 11, n), "event": rng.integers(0, 2, n),
        "identifier_frequency": x, "term_frequency": x + (rng.random(n) < 0.02),  # r ≈ 0.99
        "depth": rng.integers(1, 8, n).astype(float),
    })
    table, _ = cox_table(ev, cox_settings(covariates=["identifier_frequency", "term_frequency", "depth"],
                                      log1p=["identifier_frequency", "term_frequency"]))
    multi = table[table["model"] == "multivariable"].set_index("covariate")
    assert multi.loc["term_frequency", "warning"].startswith("dropped: collinear with identifier_frequency")
    assert np.isfinite(multi.loc["identifier_frequency", "hr"]) and np.isfinite(multi.loc["depth", "hr"])
    uni = table[table["model"] == "univariable"].set_index("covariate")
    assert np.isfinite(uni.loc["term_frequency", "hr"])  # alone it is fine


# --- statistical rigour: cloglog beside Cox, PH tests, q-values, EPV, VIF -----------------------

from factsurv.analysis.cox import global_ph_test, variance_inflation  # noqa: E402
from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table, person_epochs  # noqa: E402
from factsurv.analysis.dynamics import dynamics_table  # noqa: E402
from factsurv.analysis.multiple_testing import bh_qvalues, qvalue_table  # noqa: E402


def _acquisition(seed: int, counts=None, **kw) -> pd.DataFrame:
    st = simulate_study(counts=counts or {"hpo": {"train": 600, "heldout": 0}, "go": {"train": 300, "heldout": 0}},
                        epochs=10, seed=seed, **kw)
    traj = build_trajectories(st.facts, st.literature, st.baseline, pd.concat(st.evals.values()))
    return build_events(traj, "acquisition", splits=["train"]), st.truth


def _dt(**over) -> DiscreteTimeSettings:
    return DiscreteTimeSettings.from_params({**ANALYSIS_DEFAULTS["discrete_time"], **over})


def _get(table, model, covariate):
    return table[(table["model"] == model) & (table["covariate"] == covariate)].iloc[0]


def test_cloglog_and_cox_both_recover_the_planted_hazard_ratio():
    ev, truth = _acquisition(seed=11, hr_latent=2.5)
    s = cox_settings(covariates=["latent", "depth", "annotation_count"])
    cox, _ = cox_table(ev, s)
    cl, problems = cloglog_table(ev, s, _dt(), cox=cox)
    assert not problems
    for model in ("univariable", "multivariable"):
        c, d = _get(cox, model, "latent"), _get(cl, model, "latent")
        print(model, f"Cox {c['hr']:.2f} [{c['hr_lower_95']:.2f}, {c['hr_upper_95']:.2f}]",
              f"cloglog {d['hr']:.2f} [{d['hr_lower_95']:.2f}, {d['hr_upper_95']:.2f}]")
        assert c["hr_lower_95"] < truth["hr_latent"] < c["hr_upper_95"]
        assert d["hr_lower_95"] < truth["hr_latent"] < d["hr_upper_95"]
        assert d["hr_lower_95"] > 1.5 and d["converged"] == True  # noqa: E712
        assert d["cox_hr"] == pytest.approx(c["hr"])  # the Cox estimate sits beside it
        assert d["n_person_epochs"] == ev["duration"].sum() or "left out" in d["warning"]
    # the noise covariates: both models agree closely (same log-HR under grouped-time PH)
    assert _get(cl, "multivariable", "depth")["hr"] == pytest.approx(_get(cox, "multivariable", "depth")["hr"], rel=0.05)


def test_person_epochs_expand_each_fact_to_its_epochs_at_risk():
    idx, epoch, y = person_epochs(np.array([2, 3, 1]), np.array([1, 0, 1]))
    assert idx.tolist() == [0, 0, 1, 1, 1, 2]
    assert epoch.tolist() == [1, 2, 1, 2, 3, 1]
    assert y.tolist() == [0, 1, 0, 0, 0, 1]


def test_planted_ph_violation_is_flagged_and_modelled_by_epoch_bands():
    ev, _ = _acquisition(seed=12, hr_latent=4.0, hr_latent_until=2)  # latent helps in epochs 1-2 only
    s = cox_settings(covariates=["latent", "depth"])
    cox, _ = cox_table(ev, s)
    row = _get(cox, "multivariable", "latent")
    assert row["ph_test_p"] < 0.05 and row["ph_flag"] == True  # noqa: E712
    assert row["ph_global_p"] < 0.05 and "PH violated" in row["warning"]
    assert _get(cox, "univariable", "depth")["ph_flag"] == False  # noqa: E712; noise is not flagged
    cl, _ = cloglog_table(ev, s, _dt(time_varying="bands", bands=[2]), cox=cox)
    tv = cl[cl["model"] == "multivariable + time-varying (bands)"].set_index("covariate")
    early, late = tv.loc["latent[epochs 1-2]"], tv.loc["latent[epochs 3-10]"]
    print(f"early HR {early['hr']:.2f} [{early['hr_lower_95']:.2f}, {early['hr_upper_95']:.2f}], "
          f"late HR {late['hr']:.2f} [{late['hr_lower_95']:.2f}, {late['hr_upper_95']:.2f}]")
    assert early["hr_lower_95"] < 4.0 < early["hr_upper_95"]
    assert late["hr_lower_95"] < 1.0 < late["hr_upper_95"]
    assert "depth" in tv.index and "latent" not in tv.index  # only the flagged covariate varies
    logt, _ = cloglog_table(ev, s, _dt(time_varying="log_time"), cox=cox)
    slope = _get(logt, "multivariable + time-varying (log_time)", "latent×log(epoch)")
    assert slope["hr_upper_95"] < 1.0  # the effect fades with time
    # without a violation, latent is not flagged (fixed seed) and no time-varying model is fitted
    ev0, _ = _acquisition(seed=12, hr_latent=4.0)
    cox0, _ = cox_table(ev0, s)
    assert _get(cox0, "multivariable", "latent")["ph_flag"] == False  # noqa: E712


def test_global_ph_test_equals_the_covariate_test_with_one_covariate():
    from lifelines import CoxPHFitter

    ev = _exp_events(300, 2.0, seed=13)[["duration", "event", "latent"]].astype(float)
    cph = CoxPHFitter().fit(ev, "duration", "event")
    from lifelines.statistics import proportional_hazard_test
    one = float(proportional_hazard_test(cph, ev, time_transform="rank").summary["p"].iloc[0])
    assert global_ph_test(cph, ev) == pytest.approx(one, rel=1e-9)


def test_bh_qvalues_match_a_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    # m = 4 finite p; sorted 0.01, 0.03, 0.04, 0.20 → m·p/rank = 0.04, 0.06, 0.0533, 0.20 → running min from the top
    expected = [0.04, 0.16 / 3, 0.16 / 3, 0.20, np.nan]
    np.testing.assert_allclose(bh_qvalues(p), expected, rtol=1e-12)
    tabs = {"acquisition": pd.DataFrame({"model": ["univariable", "multivariable"], "covariate": ["latent", "latent"],
                                         "hr": [2.0, 1.8], "p": [0.01, 0.04], "converged": [True, True]}),
            "degradation": pd.DataFrame({"model": ["univariable", "univariable"], "covariate": ["seen", "depth"],
                                         "hr": [0.5, 1.0], "p": [0.03, 0.20], "converged": [True, False]})}
    q = qvalue_table(tabs)  # the unconverged row is not a test
    assert q["n_tests"].iloc[0] == 3
    np.testing.assert_allclose(q["q"], [0.03, 0.04, 0.04])  # 3·0.01/1, min(3·0.04/3, ...), 3·0.03/2 = 0.045 → 0.04


def test_events_per_parameter_warn_penalize_reduce():
    ev = _exp_events(60, 2.0, seed=14)
    ev["event"] = 0
    ev.loc[:14, "event"] = 1  # 15 events, 2 parameters: EPV 7.5 < 10
    ev["depth"] = np.arange(60) % 7
    covs = ["latent", "depth"]
    warn, _ = cox_table(ev, cox_settings(covariates=covs))
    row = _get(warn, "multivariable", "latent")
    assert row["epv"] == 7.5 and "EPV = 7.5 < 10" in row["warning"]
    assert _get(warn, "univariable", "latent")["epv"] == 15 and "EPV" not in _get(warn, "univariable", "latent")["warning"]
    pen, _ = cox_table(ev, cox_settings(covariates=covs, low_epv="penalize", low_epv_penalizer=0.5))
    assert _get(pen, "multivariable", "latent")["penalizer"] == 0.5
    red, _ = cox_table(ev, cox_settings(covariates=covs, low_epv="reduce"))
    multi = red[red["model"] == "multivariable"].set_index("covariate")
    assert multi.loc["depth", "warning"].startswith("dropped: EPV") and np.isfinite(multi.loc["latent", "hr"])


def test_vif_beyond_pairs_is_flagged_or_dropped():
    rng = np.random.default_rng(15)
    n = 500
    a, b = rng.normal(size=n), rng.normal(size=n)
    ev = pd.DataFrame({"fact_id": [f"f{i}" for i in range(n)], "duration": rng.integers(1, 11, n),
                       "event": rng.integers(0, 2, n), "depth": a, "label_chars": b,
                       "n_descendants": a + b + 0.2 * rng.normal(size=n)})  # pairwise |r| ≈ 0.7, VIF ≈ 50
    assert max(variance_inflation({k: ev[k] for k in ("depth", "label_chars", "n_descendants")}).values()) > 10
    covs = ["depth", "label_chars", "n_descendants"]
    flag, _ = cox_table(ev, cox_settings(covariates=covs, log1p=[], standardize=[]))
    multi = flag[flag["model"] == "multivariable"].set_index("covariate")
    assert (multi["vif"] > 10).all() and multi["warning"].str.contains("VIF").all()
    drop, _ = cox_table(ev, cox_settings(covariates=covs, log1p=[], standardize=[], vif_action="drop"))
    multi = drop[drop["model"] == "multivariable"].set_index("covariate")
    dropped = multi[multi["warning"].str.startswith("dropped: VIF")]
    assert len(dropped) == 1 and (multi.drop(dropped.index)["vif"] < 10).all()


def test_dynamics_hazard_rmst_and_median():
    d = np.array([1, 2, 2, 2, 3, 5, 5, 5, 5, 5])
    ev = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    g = group_dynamics(d, ev, last_epoch=5).set_index("epoch")
    assert g["n_at_risk"].tolist() == [10, 9, 6, 5, 5]
    assert g.loc[2, "hazard"] == pytest.approx(3 / 9)
    # KM S(1..4) = 0.9, 0.6, 0.5, 0.5 → RMST to epoch 5 = 1 + 0.9 + 0.6 + 0.5 + 0.5; median = first S ≤ 0.5
    assert g["rmst"].iloc[0] == pytest.approx(3.5)
    assert g["median_time"].iloc[0] == 3


def test_bootstrap_ci_of_the_peak_epoch_covers_the_planted_peak_and_is_seeded():
    profile = [0.2, 0.6, 1.5, 3.0, 1.5, 0.8, 0.5, 0.3, 0.2, 0.2]
    ev, truth = _acquisition(seed=16, acquisition_profile=profile, acquisition_rate=0.08)
    assert truth["peak_epoch_not_latent"] == 4
    dyn = dynamics_table({"acquisition": ev}, bootstrap=300, seed=3)
    per = dyn.drop_duplicates("group").set_index("group")
    for group, key in (("not latent", "peak_epoch_not_latent"), ("latent", "peak_epoch_latent")):
        r = per.loc[group]
        print(group, r["peak_epoch"], r["peak_epoch_lower_95"], r["peak_epoch_upper_95"], "truth", truth[key])
        assert r["peak_epoch_lower_95"] <= truth[key] <= r["peak_epoch_upper_95"]
        assert r["rmst_lower_95"] <= r["rmst"] <= r["rmst_upper_95"]
        assert r["peak_share_lower_95"] <= r["peak_share"] <= r["peak_share_upper_95"]
    pd.testing.assert_frame_equal(dyn, dynamics_table({"acquisition": ev}, bootstrap=300, seed=3))
    other = dynamics_table({"acquisition": ev}, bootstrap=300, seed=4)
    assert not other["rmst_lower_95"].equals(dyn["rmst_lower_95"])  # the seed matters


# --- exposure as a time-varying covariate ------------------------------------------------------

from factsurv.analysis.discrete_time import exposure_constant, exposure_matrix  # noqa: E402


def _exposure_study(seed: int, repeats: np.ndarray, epochs: int = 8, a: float = -4.0, b: float = 1.0):
    """Facts shown ``repeats`` times per epoch; the hazard of acquisition in epoch e is
    cloglog⁻¹(a + b·log(1 + exposures so far)). Returns (events, trajectories)."""
    rng = np.random.default_rng(seed)
    n = len(repeats)
    fact_ids = [f"f{i:04d}" for i in range(n)]
    duration, event = np.full(n, epochs), np.zeros(n, dtype=int)
    for i in range(n):
        for e in range(1, epochs + 1):
            h = 1 - np.exp(-np.exp(a + b * np.log1p(repeats[i] * e)))
            if rng.random() < h:
                duration[i], event[i] = e, 1
                break
    events = pd.DataFrame({"fact_id": fact_ids, "duration": duration, "event": event,
                           "latent": rng.integers(0, 2, n), "ontology": "hpo", "exposures": repeats * epochs})
    traj = pd.DataFrame([{"fact_id": f, "epoch": e, "exposures_so_far": int(r * e)}
                         for f, r in zip(fact_ids, repeats) for e in range(epochs + 1)])
    return events, traj


def test_exposures_so_far_enters_the_discrete_time_model_and_recovers_a_planted_effect():
    repeats = np.tile([1, 2, 4, 8], 200)  # power-law-like: per-fact repeats, constant over epochs
    ev, traj = _exposure_study(seed=21, repeats=repeats)
    s = cox_settings(covariates=["latent"])
    cl, problems = cloglog_table(ev, s, _dt(), exposure=exposure_matrix(traj))
    assert not problems
    alone = _get(cl, "univariable", "exposures_so_far")
    multi = _get(cl, "multivariable + exposures_so_far", "exposures_so_far")
    for row in (alone, multi):
        print(row["model"], f"HR per log(1 + count) {row['hr']:.2f} [{row['hr_lower_95']:.2f}, {row['hr_upper_95']:.2f}]")
        assert row["converged"] == True  # noqa: E712
        assert row["hr_lower_95"] > 1.0  # the planted direction: more examples so far, higher hazard
        assert row["hr_lower_95"] < np.exp(1.0) < row["hr_upper_95"]  # and its size (b = 1)
        assert row["transform"].startswith("log1p")
    noise = _get(cl, "multivariable + exposures_so_far", "latent")
    assert noise["hr_lower_95"] < 1.0 < noise["hr_upper_95"]
    # off in the config: no exposure models
    off, _ = cloglog_table(ev, s, _dt(exposures_so_far=False), exposure=exposure_matrix(traj))
    assert "exposures_so_far" not in set(off["covariate"])


def test_exposures_so_far_constant_across_facts_is_dropped_with_a_note():
    ev, traj = _exposure_study(seed=22, repeats=np.ones(400, dtype=int))  # uniform: count = epoch for all
    s = cox_settings(covariates=["latent", "exposures"])
    cl, problems = cloglog_table(ev, s, _dt(), exposure=exposure_matrix(traj))
    assert not problems
    row = _get(cl, "univariable", "exposures_so_far")
    assert np.isnan(row["hr"]) and "the same for every shown fact" in row["warning"]
    assert "multivariable + exposures_so_far" not in set(cl["model"])
    # the total is constant too: dropped from the models with a note, the others fitted
    assert "no variation" in _get(cl, "univariable", "exposures")["warning"]
    assert _get(cl, "multivariable", "latent")["converged"] == True  # noqa: E712
    # trajectories without the plan's exposure (older runs): nothing to enter, nothing breaks
    assert exposure_matrix(traj.assign(exposures_so_far=pd.NA)) is None
    plain, _ = cloglog_table(ev, s, _dt(), exposure=None)
    assert "exposures_so_far" not in set(plain["covariate"])
    from factsurv.analysis.cox import build_design

    assert "no training plan" in exposure_constant(build_design("m", ev, [], s), None)
