"""Missing covariate values: one rule (complete cases, factsurv.analysis.cox.complete_cases) in the
Cox, discrete-time and joint models, with the facts left out counted per covariate and model
(``n_missing``), a note in the model's rows (which the summary carries) and a warning in the log.

The data: 90 facts at risk, latent facts acquired ~2.5x faster, ``identifier_frequency`` missing
for a third of them (as the seed group's published GO lists give literature counts for only a
third of their rows, here the other way round), ``term_frequency`` missing for none and
``annotation_count`` for every one.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from factsurv.analysis.cox import CoxSettings, complete_cases, cox_table, fit_cox, prepare_covariate
from factsurv.analysis.discrete_time import DiscreteTimeSettings, cloglog_table
from factsurv.analysis.joint import joint_cox, stack
from factsurv.config import section_defaults
from factsurv.tables import CLOGLOG_COLUMNS, COX_COLUMNS, JOINT_COX_COLUMNS

N, MISSING = 90, 30
COVARIATES = ["latent", "identifier_frequency", "term_frequency", "annotation_count"]


def settings() -> CoxSettings:
    cfg = section_defaults("analysis")["cox"]
    cfg.update(covariates=COVARIATES, min_events_per_parameter=0)
    return CoxSettings.from_params(cfg)


def events(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = (rng.random(N) < 0.4).astype(int)
    t = rng.exponential(1.0 / (0.15 * np.where(latent == 1, 2.5, 1.0)))
    epoch = np.maximum(1, np.ceil(t)).astype(int)
    ident = rng.poisson(20, N).astype(float)
    ident[rng.permutation(N)[:MISSING]] = np.nan  # a third of the facts
    return pd.DataFrame({
        "fact_id": [f"go:GO:{i:07d}" for i in range(N)], "duration": np.minimum(epoch, 8),
        "event": (epoch <= 8).astype(int), "ontology": "go", "latent": latent,
        "identifier_frequency": ident, "term_frequency": rng.poisson(50, N).astype(float),
        "annotation_count": np.nan,
    })


def rows(table: pd.DataFrame, model: str) -> pd.DataFrame:
    return table[table["model"] == model].drop_duplicates("covariate").set_index("covariate")


def test_complete_cases_is_the_rule():
    ev = events()
    cases = complete_cases(ev, COVARIATES)
    assert cases.no_data == ["annotation_count"] and cases.usable == ["latent", "identifier_frequency", "term_frequency"]
    assert cases.missing == {"latent": 0, "identifier_frequency": MISSING, "term_frequency": 0, "annotation_count": N}
    assert len(cases.data) == N - MISSING and cases.data["identifier_frequency"].notna().all()
    assert cases.note() == (f"{MISSING} of {N} facts at risk left out for missing values "
                            f"(identifier_frequency {MISSING}; complete cases)")


def test_cox_counts_the_facts_left_out_per_covariate_and_model(caplog):
    ev = events()
    with caplog.at_level(logging.WARNING, logger="factsurv"):
        table, _ = cox_table(ev, settings())
    assert tuple(table.columns) == COX_COLUMNS
    uni = table[table["model"] == "univariable"].set_index("covariate")
    assert uni.loc["latent", "n"] == N and uni.loc["latent", "n_missing"] == 0
    assert uni.loc["identifier_frequency", "n"] == N - MISSING and uni.loc["identifier_frequency", "n_missing"] == MISSING
    assert f"{MISSING} of {N} facts at risk left out" in uni.loc["identifier_frequency", "warning"]
    assert uni.loc["annotation_count", "warning"].startswith("dropped: no data")
    assert uni.loc["annotation_count", "n_missing"] == N
    multi = rows(table, "multivariable")
    # the multivariable model: complete cases over all its covariates; each row says how many lacked it
    assert (multi.loc[["latent", "identifier_frequency", "term_frequency"], "n"] == N - MISSING).all()
    assert multi.loc["latent", "n_missing"] == 0 and multi.loc["identifier_frequency", "n_missing"] == MISSING
    assert all(f"{MISSING} of {N} facts at risk left out" in w
               for w in multi.loc[["latent", "identifier_frequency", "term_frequency"], "warning"])
    assert f"multivariable [latent, identifier_frequency, term_frequency]: {MISSING} of {N} facts at risk" in caplog.text

    # the estimate is the Cox fit on the complete cases, transforms computed on them
    kept = ev.dropna(subset=["identifier_frequency"]).reset_index(drop=True)
    frame = kept[["duration", "event"]].astype(float)
    frame["identifier_frequency"], _ = prepare_covariate(kept["identifier_frequency"], "identifier_frequency",
                                                         settings().log1p, settings().standardize)
    direct = fit_cox(frame, ["identifier_frequency"])
    assert uni.loc["identifier_frequency", "coef"] == pytest.approx(direct.summary.loc["identifier_frequency", "coef"])


def test_discrete_time_applies_the_same_rule():
    ev = events()
    cox, _ = cox_table(ev, settings())
    dt = DiscreteTimeSettings.from_params(section_defaults("analysis")["discrete_time"])
    table, _ = cloglog_table(ev, settings(), dt, cox=cox)
    assert tuple(table.columns) == CLOGLOG_COLUMNS
    for model in ("univariable", "multivariable"):
        got = rows(table, model)[["n", "n_missing"]]
        want = rows(cox, model)[["n", "n_missing"]]
        pd.testing.assert_frame_equal(got.loc[want.index].astype(int), want.astype(int))
    multi = rows(table, "multivariable")
    assert f"{MISSING} of {N} facts at risk left out" in multi.loc["latent", "warning"]


def test_joint_model_applies_the_same_rule(caplog):
    ev = events()
    cells = [{"run": f"x-qa-s{s}", "model": "demo", "seed": s, "design": "qa"} for s in (1, 2)]
    stacked = stack([(c, ev) for c in cells])
    with caplog.at_level(logging.WARNING, logger="factsurv"):
        table = joint_cox(stacked, "acquisition", covariates=COVARIATES[:3], factors=["seed"], strata=[],
                          cluster_by_fact=True, settings=settings())
    assert tuple(table.columns) == JOINT_COX_COLUMNS
    joint = table[table["model"] == "joint"].set_index("covariate")
    assert (joint["n"] == 2 * (N - MISSING)).all()
    assert joint.loc["identifier_frequency", "n_missing"] == 2 * MISSING and joint.loc["latent", "n_missing"] == 0
    assert f"{2 * MISSING} of {2 * N} rows (run x fact) at risk left out" in joint.loc["latent", "note"]
    assert "joint model" in caplog.text and "left out for missing values" in caplog.text
    # one run: the joint coefficients are the run's multivariable Cox model's (the same complete
    # cases, the same transforms computed on them)
    one = joint_cox(stack([(cells[0], ev)]), "acquisition", covariates=COVARIATES[:3], factors=["seed"], strata=[],
                    cluster_by_fact=True, settings=settings()).query("model == 'joint'").set_index("covariate")
    cox, _ = cox_table(ev, settings())
    multi = rows(cox, "multivariable")
    for cov in COVARIATES[:3]:
        assert one.loc[cov, "coef"] == pytest.approx(multi.loc[cov, "coef"], rel=1e-6)
        assert one.loc[cov, "n"] == multi.loc[cov, "n"] and one.loc[cov, "n_missing"] == multi.loc[cov, "n_missing"]
