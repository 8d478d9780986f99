"""The effect of randomized prior exposure (models with ``source: exposure``), beside the paper's HR(latent).

The paper's HR(latent) is observational: latent knowledge goes with a term's popularity, its
annotations and its place in the literature, any of which may speed acquisition by itself. A model
given controlled prior exposure has a randomized treatment per fact, its dose ``d`` (documents that
stated the identifier in the continued-pretraining corpus, :mod:`factsurv.modeling.exposure`),
independent of everything about the term. Here ``x = log2(1 + d)``, so a hazard ratio is *per
doubling of the dose*.

What :func:`exposure_effect` estimates (rows of ``exposure_effect.tsv``, :data:`factsurv.tables.EXPOSURE_EFFECT_COLUMNS`):

- ``balance``: Spearman correlation of the dose with every pre-treatment covariate of facts.tsv
  (annotation counts, depth, descendants, label length, ...): near 0 if the randomization worked.
- ``first_stage``: the dose's effect on baseline knowledge (all facts): logistic regressions of
  ``known`` (greedy right at epoch 0) and of ``known_or_latent`` on x (odds ratio per doubling), and
  among facts wrong at baseline of ``latent`` on x (the mediator model, path a).
- ``total``: Cox model of acquisition on x among the trained facts wrong at baseline (the paper's
  risk set). Randomization makes x independent of everything pre-treatment, but the risk set is
  selected *after* exposure (a fact exposure made known drops out), so ``itt`` is reported beside it.
- ``itt``: the intention-to-treat effect on all trained facts: time to the first epoch (0 included)
  at which the fact is right (duration e + 1), Cox on x. No post-treatment selection.
- ``itt_adjusted``: the same model with the facts' pre-treatment covariates beside x (every one of
  :data:`factsurv.tables.FACT_COVARIATES` that varies; complete cases). Randomization needs no
  adjustment in expectation; this is the sensitivity analysis for a chance imbalance that the
  ``balance`` rows show (on a few hundred facts a |rho| of 0.3 happens), and it usually narrows the
  interval. Only x's row is reported.
- ``direct``: Cox on x and latent (the controlled direct effect of exposure, latent held fixed) and
  ``latent_adjusted``: latent's HR in that model.
- ``mediated_share``: the share of exposure's effect that runs through latent knowledge,
  ``1 − β_direct / β_total`` (the difference method), with a percentile bootstrap interval over facts
  (``bootstrap`` resamples, generator seeded by ``seed``).
- ``latent_observational``: HR(latent) alone, as the paper's question asks it, on the same risk set.

``exposure_baseline.tsv`` has known / latent shares per dose level with Wilson intervals, and
``exposure_curves.tsv`` trained recall and cumulative acquisition per epoch and dose level.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.cox import estimate_problems, fit_cox
from factsurv.tables import (
    EXPOSURE_BASELINE_COLUMNS,
    EXPOSURE_CURVE_COLUMNS,
    EXPOSURE_EFFECT_COLUMNS,
    FACT_COVARIATES,
    PRIOR_EXPOSURE,
)

log = logging.getLogger("factsurv")

DOSE = "log2_dose"
#: |log odds ratio| beyond which a logistic fit is separation, not a result (as the Cox fits' bound)
MAX_ABS_COEF = 10.0


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def per_fact(trajectories: pd.DataFrame) -> pd.DataFrame:
    """One row per fact: split, latent, dose, correct at epoch 0, first epoch ≥ 1 right, first epoch ≥ 0 right."""
    t = trajectories.sort_values(["fact_id", "epoch"], kind="stable")
    if PRIOR_EXPOSURE not in t or t[PRIOR_EXPOSURE].isna().all():
        raise ValueError(f"trajectories have no {PRIOR_EXPOSURE} (the run's model has no exposure assignment)")
    first = t.groupby("fact_id", sort=True).first()
    last_epoch = int(t["epoch"].max())
    right = t[t["correct"] == 1]
    first_any = right.groupby("fact_id")["epoch"].min()
    first_after = right[right["epoch"] >= 1].groupby("fact_id")["epoch"].min()
    keep = [c for c in ("split", "ontology", "latent", "p_correct", PRIOR_EXPOSURE, *FACT_COVARIATES) if c in first]
    out = first[keep].copy()
    out["correct0"] = t[t["epoch"] == 0].set_index("fact_id")["correct"].reindex(out.index).astype(int)
    out["first_right"] = first_any.reindex(out.index)
    out["first_right_after"] = first_after.reindex(out.index)
    out["last_epoch"] = last_epoch
    out["dose"] = pd.to_numeric(out[PRIOR_EXPOSURE]).astype(int)
    out[DOSE] = np.log2(1 + out["dose"].astype(float))
    out["latent"] = pd.to_numeric(out["latent"]).fillna(0).astype(int)
    return out.reset_index()


def _cox_rows(data: pd.DataFrame, columns: Sequence[str], estimand: str, population: str,
              model: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    usable = [c for c in columns if data[c].nunique() > 1]
    dropped = [c for c in columns if c not in usable]
    n, n_events = len(data), int(data["event"].sum())
    base = {"estimand": estimand, "population": population, "model": model, "n": n, "n_events": n_events}
    if not usable or n_events == 0:
        why = "no events" if n_events == 0 else f"no variation in {', '.join(dropped)}"
        return [{**base, "covariate": c, "note": f"not estimated: {why}"} for c in columns], {}
    fit = fit_cox(data, usable, ph_test=False)
    note = "; ".join([*fit.problems, *fit.notes, *(f"{c} dropped: no variation" for c in dropped)])
    rows, coefs = [], {}
    for c in columns:
        if c not in usable or fit.summary is None or not fit.converged:
            rows.append({**base, "covariate": c, "note": note or "not estimated"})
            continue
        s = fit.summary.loc[c]
        coefs[c] = float(s["coef"])
        rows.append({**base, "covariate": c, "coef": float(s["coef"]), "se": float(s["se(coef)"]),
                     "estimate": float(s["exp(coef)"]), "lower_95": float(s["exp(coef) lower 95%"]),
                     "upper_95": float(s["exp(coef) upper 95%"]), "p": float(s["p"]), "scale": "HR", "note": note})
    return rows, coefs


def _logit_rows(data: pd.DataFrame, outcome: str, estimand: str, population: str) -> list[dict[str, Any]]:
    import statsmodels.api as sm

    y = data[outcome].astype(float)
    base = {"estimand": estimand, "population": population, "model": f"logit({outcome}) ~ {DOSE}",
            "covariate": DOSE, "n": len(data), "n_events": int(y.sum())}
    if y.nunique() < 2 or data[DOSE].nunique() < 2:
        return [{**base, "note": f"not estimated: {outcome} or the dose does not vary"}]
    X = sm.add_constant(data[[DOSE]].astype(float))
    try:
        res = sm.GLM(y, X, family=sm.families.Binomial()).fit()
    except Exception as exc:  # perfect separation and the like
        return [{**base, "note": f"not estimated: {type(exc).__name__}: {exc}"}]
    b, se = float(res.params[DOSE]), float(res.bse[DOSE])
    lo, hi = b - 1.959964 * se, b + 1.959964 * se
    problems = estimate_problems([DOSE], [b], [lo], [hi], MAX_ABS_COEF)
    if np.isfinite(se) and se > MAX_ABS_COEF:
        problems.append(f"standard error {se:.3g} of the log odds ratio (quasi-separation)")
    if problems:  # (quasi-)separation: the dose levels split the outcome
        return [{**base, "coef": b, "se": se, "note": "not estimated: " + "; ".join(problems)}]
    return [{**base, "coef": b, "se": se, "estimate": math.exp(b), "lower_95": math.exp(lo),
             "upper_95": math.exp(hi), "p": float(res.pvalues[DOSE]), "scale": "OR"}]


def acquisition_frame(facts: pd.DataFrame) -> pd.DataFrame:
    """Trained facts wrong at epoch 0: duration = first epoch ≥ 1 right (event), else the last epoch."""
    at_risk = facts[(facts["split"] == "train") & (facts["correct0"] == 0)].copy()
    at_risk["event"] = at_risk["first_right_after"].notna().astype(int)
    at_risk["duration"] = at_risk["first_right_after"].fillna(at_risk["last_epoch"]).astype(float)
    return at_risk


def itt_frame(facts: pd.DataFrame) -> pd.DataFrame:
    """All trained facts: duration = first epoch (0 included) right, + 1 (event), else last epoch + 1."""
    trained = facts[facts["split"] == "train"].copy()
    trained["event"] = trained["first_right"].notna().astype(int)
    trained["duration"] = trained["first_right"].fillna(trained["last_epoch"]).astype(float) + 1
    return trained


def mediated_share(at_risk: pd.DataFrame, bootstrap: int, seed: int) -> dict[str, Any]:
    """1 − β_direct/β_total with a percentile bootstrap interval (NA when latent does not vary)."""
    base = {"estimand": "mediated_share", "population": "trained, wrong at epoch 0",
            "model": f"1 - b({DOSE} | latent) / b({DOSE})", "covariate": DOSE, "n": len(at_risk),
            "n_events": int(at_risk["event"].sum()), "scale": "share"}
    if at_risk["latent"].nunique() < 2 or at_risk["event"].sum() == 0 or at_risk[DOSE].nunique() < 2:
        return {**base, "note": "not estimated: latent knowledge or the dose does not vary among the facts at risk, "
                                "or there is no acquisition"}

    def share(frame: pd.DataFrame) -> float:
        if frame["latent"].nunique() < 2 or frame["event"].sum() == 0 or frame[DOSE].nunique() < 2:
            return math.nan
        tot = fit_cox(frame, [DOSE], ph_test=False)
        dirc = fit_cox(frame, [DOSE, "latent"], ph_test=False)
        if not (tot.converged and dirc.converged):
            return math.nan
        bt, bd = float(tot.summary.loc[DOSE, "coef"]), float(dirc.summary.loc[DOSE, "coef"])
        return 1 - bd / bt if bt != 0 else math.nan

    point = share(at_risk)
    rng = np.random.default_rng(seed)
    draws = []
    idx = np.arange(len(at_risk))
    for _ in range(int(bootstrap)):
        draws.append(share(at_risk.iloc[rng.choice(idx, size=len(idx), replace=True)]))
    ok = np.array([d for d in draws if np.isfinite(d)])
    lo, hi = (np.quantile(ok, [0.025, 0.975]) if len(ok) >= 20 else (math.nan, math.nan))
    note = (f"percentile bootstrap, {len(ok)} of {bootstrap} resamples estimable; a share outside [0, 1] means "
            "the direct and total effects differ in sign or the total is near 0")
    return {**base, "estimate": point, "lower_95": float(lo), "upper_95": float(hi), "note": note}


def exposure_effect(trajectories: pd.DataFrame, *, bootstrap: int, seed: int) -> pd.DataFrame:
    """The estimates of the module docstring, one row each."""
    facts = per_fact(trajectories)
    rows: list[dict[str, Any]] = []
    for cov in FACT_COVARIATES:  # the facts' own covariates: all pre-treatment
        if cov not in facts or pd.to_numeric(facts[cov], errors="coerce").nunique() < 2:
            continue
        from scipy.stats import spearmanr

        sel = facts[[cov, "dose"]].apply(pd.to_numeric, errors="coerce").dropna()
        rho, p = spearmanr(sel["dose"], sel[cov])
        rows.append({"estimand": "balance", "population": "all facts", "model": f"spearman(dose, {cov})",
                     "covariate": cov, "estimate": float(rho), "p": float(p), "n": len(sel), "scale": "rho",
                     "note": "randomized: expected near 0"})
    facts["known"] = facts["correct0"]
    facts["known_or_latent"] = ((facts["correct0"] == 1) | (facts["latent"] == 1)).astype(int)
    rows += _logit_rows(facts, "known", "first_stage", "all facts")
    rows += _logit_rows(facts, "known_or_latent", "first_stage", "all facts")
    wrong = facts[facts["correct0"] == 0]
    rows += _logit_rows(wrong, "latent", "first_stage", "all facts wrong at epoch 0")
    at_risk = acquisition_frame(facts)
    pop = "trained, wrong at epoch 0"
    r, _ = _cox_rows(at_risk, [DOSE], "total", pop, f"cox ~ {DOSE}")
    rows += r
    itt = itt_frame(facts)
    r, _ = _cox_rows(itt, [DOSE], "itt", "trained, all (time to first right, epoch 0 included)", f"cox ~ {DOSE}")
    rows += r
    numeric = itt[[c for c in FACT_COVARIATES if c in itt]].apply(pd.to_numeric, errors="coerce")
    covs = [c for c in numeric if numeric[c].nunique() > 1]
    adj = itt.assign(**{c: numeric[c] for c in covs}).dropna(subset=covs)
    r, _ = _cox_rows(adj, [DOSE, *covs], "itt_adjusted",
                     "trained, all, complete pre-treatment covariates (time to first right, epoch 0 included)",
                     "cox ~ " + " + ".join([DOSE, *covs]))
    rows += [x for x in r if x["covariate"] == DOSE]
    r, _ = _cox_rows(at_risk, [DOSE, "latent"], "direct", pop, f"cox ~ {DOSE} + latent")
    rows += [{**x, "estimand": "latent_adjusted"} if x["covariate"] == "latent" else x for x in r]
    r, _ = _cox_rows(at_risk, ["latent"], "latent_observational", pop, "cox ~ latent")
    rows += r
    rows.append(mediated_share(at_risk, bootstrap, seed))
    out = pd.DataFrame(rows).reindex(columns=EXPOSURE_EFFECT_COLUMNS)
    return out


def exposure_baseline(trajectories: pd.DataFrame) -> pd.DataFrame:
    """Per dose level and split (and all): facts, known and latent at baseline with Wilson intervals."""
    facts = per_fact(trajectories)
    rows = []
    groups = [("all", facts), *((s, g) for s, g in facts.groupby("split"))]
    for split, frame in groups:
        for dose, g in frame.groupby("dose"):
            n, known = len(g), int(g["correct0"].sum())
            latent = int(((g["correct0"] == 0) & (g["latent"] == 1)).sum())
            klo, khi = wilson(known, n)
            llo, lhi = wilson(latent, n)
            rows.append({"split": split, "dose": int(dose), "n": n, "known": known, "known_share": known / n,
                         "known_lower_95": klo, "known_upper_95": khi, "latent": latent, "latent_share": latent / n,
                         "latent_lower_95": llo, "latent_upper_95": lhi,
                         "mean_p_correct": float(pd.to_numeric(g["p_correct"]).mean())})
    return pd.DataFrame(rows).reindex(columns=EXPOSURE_BASELINE_COLUMNS)


def exposure_curves(trajectories: pd.DataFrame) -> pd.DataFrame:
    """Per dose level and epoch, trained facts: recall, and the cumulative share acquired of those wrong at epoch 0."""
    facts = per_fact(trajectories).set_index("fact_id")
    t = trajectories[trajectories["fact_id"].isin(facts.index[facts["split"] == "train"])].copy()
    t["dose"] = t["fact_id"].map(facts["dose"])
    at_risk = set(facts.index[(facts["split"] == "train") & (facts["correct0"] == 0)])
    first = facts["first_right_after"]
    rows = []
    for (dose, epoch), g in t.groupby(["dose", "epoch"]):
        risk = [f for f in g["fact_id"] if f in at_risk]
        acquired = sum(1 for f in risk if pd.notna(first[f]) and first[f] <= epoch)
        rows.append({"dose": int(dose), "epoch": int(epoch), "n": len(g), "correct": int(g["correct"].sum()),
                     "recall": float(g["correct"].mean()), "n_at_risk": len(risk), "acquired": acquired,
                     "cumulative_acquired": acquired / len(risk) if risk else math.nan})
    return pd.DataFrame(rows).reindex(columns=EXPOSURE_CURVE_COLUMNS)
