"""The joint analysis of an experiment on stacked events with a known effect: the same
facts in every run (2 designs x 2 seeds), latent facts acquired 2.5x faster, design `fast` 1.6x."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factsurv.analysis.cox import CoxSettings
from factsurv.analysis.joint import acquisition_curves, degradation_by_design, joint_cox, stack
from factsurv.config import section_defaults
from factsurv.tables import CURVE_COLUMNS, DEGRADATION_COLUMNS, JOINT_COX_COLUMNS, RUN_COLUMNS

EPOCHS = 10
CELLS = [{"run": f"x-{d}-s{s}", "model": "demo", "seed": s, "design": d} for d in ("slow", "fast") for s in (1, 2)]


def settings(**changes) -> CoxSettings:
    cfg = section_defaults("analysis")["cox"]
    cfg.update(changes)
    return CoxSettings.from_params(cfg)


def run_events(cell, facts: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, cell["seed"], 0 if cell["design"] == "slow" else 1])
    rate = 0.08 * np.where(facts["latent"] == 1, 2.5, 1.0) * (1.6 if cell["design"] == "fast" else 1.0)
    # a fact's own frailty, shared by its rows in every run: what makes clustering matter
    t = rng.exponential(1.0 / (rate * facts["frailty"]))
    epoch = np.maximum(1, np.ceil(t)).astype(int)
    return pd.DataFrame({
        "fact_id": facts["fact_id"], "duration": np.minimum(epoch, EPOCHS), "event": (epoch <= EPOCHS).astype(int),
        "latent": facts["latent"], "seen": facts["seen"], "annotation_count": facts["annotation_count"],
    })


@pytest.fixture(scope="module")
def stacked() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    facts = pd.DataFrame({
        "fact_id": [f"go:GO:{i:07d}" for i in range(n)],
        "latent": (rng.random(n) < 0.3).astype(int),
        "seen": (rng.random(n) < 0.5).astype(int),
        "annotation_count": rng.negative_binomial(1, 0.05, n),
        "frailty": rng.gamma(2.0, 0.5, n),
    })
    return stack([(c, run_events(c, facts, 1)) for c in CELLS])


def test_stack_puts_the_grid_columns_in_front(stacked):
    assert tuple(stacked.columns[:4]) == RUN_COLUMNS
    assert len(stacked) == 4 * 400 and stacked["run"].nunique() == 4
    assert set(stacked["design"]) == {"slow", "fast"} and set(stacked["seed"]) == {1, 2}


def test_joint_cox_has_cluster_robust_ses_equal_to_lifelines_directly(stacked):
    from lifelines import CoxPHFitter

    table = joint_cox(stacked, "acquisition", covariates=["latent"], factors=["design", "model"], strata=[],
                      cluster_by_fact=True, settings=settings(), levels={"design": ["slow", "fast"]})
    assert tuple(table.columns) == JOINT_COX_COLUMNS
    joint = table[table["model"] == "joint"].set_index("covariate")
    assert set(joint.index) == {"latent", "design[fast]"}  # model has one level: left out
    assert (joint["se_type"] == "robust (cluster: fact)").all() and joint["converged"].all()

    frame = stacked[["duration", "event", "latent", "fact_id"]].copy()
    frame["design[fast]"] = (stacked["design"] == "fast").astype(float)
    robust = CoxPHFitter().fit(frame, "duration", "event", cluster_col="fact_id").summary
    naive = CoxPHFitter().fit(frame.drop(columns="fact_id"), "duration", "event").summary
    for cov in ("latent", "design[fast]"):
        assert joint.loc[cov, "coef"] == pytest.approx(robust.loc[cov, "coef"], rel=1e-6)
        assert joint.loc[cov, "se"] == pytest.approx(robust.loc[cov, "se(coef)"], rel=1e-6)
        assert joint.loc[cov, "p"] == pytest.approx(robust.loc[cov, "p"], rel=1e-6, abs=1e-300)
        assert abs(joint.loc[cov, "se"] / naive.loc[cov, "se(coef)"] - 1) > 0.05  # not the model-based SE
    # the same fact (and its frailty) in every run: a per-fact covariate's robust SE is larger than the
    # model-based one, which counts 4 rows as 4 independent facts (a within-fact one, design, can be smaller)
    assert joint.loc["latent", "se"] > 1.2 * naive.loc["latent", "se(coef)"]
    # planted 2.5 and 1.6 (the fact frailty attenuates the marginal HRs a little)
    assert 1.5 < joint.loc["latent", "hr_lower_95"] and joint.loc["latent", "hr"] < 3.0
    assert 1.1 < joint.loc["design[fast]", "hr_lower_95"] and joint.loc["design[fast]", "hr"] < 2.0

    cond = table[table["model"] == "condition"].set_index("condition")
    assert set(cond.index) == {"demo/slow", "demo/fast"} and (cond["n_runs"] == 2).all()
    assert (cond["hr"] > 1.5).all()


def test_strata_and_model_based_ses(stacked):
    from lifelines import CoxPHFitter

    table = joint_cox(stacked, "acquisition", covariates=["latent"], factors=["design"], strata=["design"],
                      cluster_by_fact=False, settings=settings())
    joint = table[table["model"] == "joint"].set_index("covariate")
    assert list(joint.index) == ["latent"] and joint.loc["latent", "strata"] == "design"
    assert joint.loc["latent", "se_type"] == "model"
    frame = stacked[["duration", "event", "latent", "design"]]
    direct = CoxPHFitter(strata=["design"]).fit(frame, "duration", "event").summary
    assert joint.loc["latent", "coef"] == pytest.approx(direct.loc["latent", "coef"], rel=1e-6)
    assert joint.loc["latent", "se"] == pytest.approx(direct.loc["latent", "se(coef)"], rel=1e-6)


def test_no_events_is_reported_not_fitted(stacked):
    none = stacked.assign(event=0)
    table = joint_cox(none, "degradation", covariates=["latent"], factors=["design"], strata=[],
                      cluster_by_fact=True, settings=settings())
    assert not table["converged"].astype(bool).any() and table["note"].str.contains("no events").all()


def test_curves_have_seed_bands_and_degradation_per_design(stacked):
    curves = acquisition_curves(stacked, EPOCHS)
    assert tuple(curves.columns) == CURVE_COLUMNS
    allc = curves[curves["group"] == "all"]
    assert len(allc) == 2 * (EPOCHS + 1) and (allc["n_seeds"] == 2).all()
    assert (allc["min"] <= allc["mean"]).all() and (allc["mean"] <= allc["max"]).all()
    assert (allc[allc["epoch"] == 0]["mean"] == 0).all()
    last = allc[allc["epoch"] == EPOCHS].set_index("design")["mean"]
    assert last["fast"] > last["slow"]
    mine = stacked[(stacked["run"] == "x-fast-s1")]
    share = ((mine["duration"] <= 3) & (mine["event"] == 1)).mean()
    r = curves[(curves["design"] == "fast") & (curves["group"] == "all") & (curves["epoch"] == 3)].iloc[0]
    assert r["min"] <= share <= r["max"]

    deg = degradation_by_design(stacked)
    assert tuple(deg.columns) == DEGRADATION_COLUMNS
    assert len(deg) == 4 and set(deg["seen"]) == {0, 1}
    r = deg[(deg["design"] == "slow") & (deg["seen"] == 1)].iloc[0]
    sub = stacked[(stacked["design"] == "slow") & (stacked["seen"] == 1)]
    assert r["n"] == len(sub) and r["share"] == pytest.approx(sub["event"].mean())


# --- the per-run convergence rules ----------------------------------------------------------------

def test_fit_cox_fits_strata_and_clusters_and_keeps_the_lifelines_fitter(stacked):
    from lifelines import CoxPHFitter

    from factsurv.analysis.cox import fit_cox

    frame = stacked[["duration", "event", "latent", "design", "fact_id"]]
    res = fit_cox(frame, ["latent"], strata=["design"], cluster_col="fact_id", ph_test=False)
    direct = CoxPHFitter(strata=["design"]).fit(frame, "duration", "event", cluster_col="fact_id").summary
    assert res.converged and res.ph_p == {} and np.isnan(res.ph_global_p)
    assert res.fitter.params_["latent"] == pytest.approx(direct.loc["latent", "coef"], rel=1e-6)
    assert res.fitter.summary.loc["latent", "se(coef)"] == pytest.approx(direct.loc["latent", "se(coef)"], rel=1e-6)


@pytest.mark.parametrize("penalizer", [0.0, 0.1])  # penalized, lifelines converges quietly to a finite HR
def test_a_joint_fit_on_a_separating_covariate_is_not_converged_with_the_reason(stacked, penalizer):
    separated = stacked.assign(latent=stacked["event"])  # every event has latent = 1, every censored row 0
    table = joint_cox(separated, "acquisition", covariates=["latent"], factors=["design"], strata=[],
                      cluster_by_fact=True, settings=settings(penalizer=penalizer))
    assert set(table["model"]) == {"joint", "condition"}
    assert not table["converged"].astype(bool).any()
    assert table["hr"].isna().all() and table["hr_lower_95"].isna().all()
    assert table["note"].str.startswith("not converged: ").all()
    assert table["note"].str.contains("complete separation: no events when latent=0", regex=False).all()
    assert not table["note"].str.contains("step").any()  # the reason, not the history of the attempts


def test_a_joint_fit_kept_after_a_failed_step_says_so_without_the_history(stacked, monkeypatch, caplog):
    import logging

    from support.cox_faults import fail_the_default_step

    fail_the_default_step(monkeypatch)
    with caplog.at_level(logging.INFO, logger="factsurv"):
        table = joint_cox(stacked, "acquisition", covariates=["latent"], factors=["design"], strata=[],
                          cluster_by_fact=True, settings=settings(step_size=None, retry_step_sizes=[0.1, 0.02]))
    assert table["converged"].astype(bool).all() and table["hr"].notna().all()
    assert table["note"].str.startswith("kept fit: step_size=0.1").all(), table["note"].tolist()
    assert not table["note"].str.contains("ConvergenceError|matrix inversion").any()
    assert "after: default step: fit failed: ConvergenceError" in caplog.text  # the attempts are in the log
