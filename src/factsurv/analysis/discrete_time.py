"""Discrete-time sensitivity model: complementary log-log regression on fact × epoch data.

Every fact at risk contributes one row per epoch 1..duration (``y`` = 1 in its event epoch). The
model has one free effect per epoch (the baseline hazard) plus the covariates; under grouped-time
proportional hazards its covariate coefficients estimate the same log hazard ratios as Cox's and it
handles the heavy ties of epoch time exactly. Standard errors are cluster-robust with the fact as
cluster (statsmodels GLM, ``cov_type="cluster"``). Epochs without events, or in which every fact at
risk has its event, carry no information on the covariates (their epoch effect runs to ∓∞): their
rows are left out, with a note.

The designs are the Cox models' (:func:`factsurv.analysis.cox.build_design`: same missing-value
rule — complete cases, ``n_missing`` per row —, transforms, drops and events-per-parameter rule;
the penalizer is not used). Its estimates pass the Cox models' checks
(:func:`factsurv.analysis.cox.estimate_problems` on the coefficients and their Wald 95% bounds)
besides statsmodels' own warnings. For covariates whose Cox
proportional-hazards test is flagged, a further model lets their effect vary with time:
covariate × log(epoch) (``log_time``) or one effect per epoch band (``bands``).

Exposure as a time-varying covariate: where the run's design makes the number of examples
a fact has had vary between facts from epoch to epoch (power-law exposure, a warm-up curriculum),
the univariable and multivariable models are refitted with ``exposures_so_far`` (examples of the
fact in epochs 1..e, :data:`factsurv.tables.EXPOSURE_SO_FAR`, entered as log(1 + count)) on each
fact × epoch row. Where every shown fact at risk has the same count in each epoch (uniform
exposure, qa, mixed, two_stage without per-fact repeats) the epoch effects absorb it: no model is
added and the table says why. The total, ``exposures``, is an ordinary per-fact covariate.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.cox import CoxSettings, Design, build_design, estimate_problems
from factsurv.tables import CLOGLOG_COLUMNS, EXPOSURE_SO_FAR

log = logging.getLogger("factsurv")

Z95 = 1.959963984540054


@dataclass
class DiscreteTimeSettings:
    """The ``analysis.discrete_time`` config block (defaults only in the schema)."""

    time_varying: str
    bands: Sequence[int]
    exposures_so_far: bool

    @classmethod
    def from_params(cls, discrete_time: Mapping[str, Any]) -> "DiscreteTimeSettings":
        """The whole ``analysis.discrete_time`` block (the rule's ``params.discrete_time``); a missing
        or unknown key raises :class:`factsurv.config.ConfigError`."""
        from factsurv.config import settings_from

        return settings_from(cls, discrete_time, "analysis.discrete_time")


def person_epochs(duration: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand facts to fact × epoch rows: (fact index, epoch 1..duration, y)."""
    d = np.asarray(duration, dtype=int)
    ev = np.asarray(event, dtype=int)
    idx = np.repeat(np.arange(len(d)), d)
    epoch = np.arange(len(idx)) - np.repeat(np.cumsum(d) - d, d) + 1
    y = ((epoch == d[idx]) & (ev[idx] == 1)).astype(float)
    return idx, epoch, y


def band_edges(bands: Sequence[int], last: int) -> list[tuple[int, int]]:
    """``[3, 6]`` with last epoch 10 → [(1, 3), (4, 6), (7, 10)] (bands past ``last`` are cut)."""
    out, lo = [], 1
    for b in sorted(int(x) for x in bands):
        if b >= last:
            break
        if b >= lo:
            out.append((lo, b))
            lo = b + 1
    out.append((lo, last))
    return out


def exposure_matrix(trajectories: pd.DataFrame | None) -> pd.DataFrame | None:
    """facts × epochs (columns 0..E) of ``exposures_so_far`` from trajectories.tsv; None when the
    trajectories have no plan's exposure (older runs, or none given)."""
    if trajectories is None or EXPOSURE_SO_FAR not in trajectories.columns:
        return None
    values = pd.to_numeric(trajectories[EXPOSURE_SO_FAR], errors="coerce")
    if values.isna().all():
        return None
    wide = trajectories.assign(**{EXPOSURE_SO_FAR: values}).pivot(
        index="fact_id", columns="epoch", values=EXPOSURE_SO_FAR)
    return wide.reindex(columns=range(int(wide.columns.max()) + 1))


def exposure_rows(design: Design, exposure: pd.DataFrame, idx: np.ndarray, epoch: np.ndarray) -> np.ndarray:
    """``exposures_so_far`` of each fact × epoch row (fact index ``idx`` into ``design.data``)."""
    fact_ids = design.data["fact_id"].astype(str).to_numpy()
    wide = exposure.reindex(index=pd.Index(fact_ids)).to_numpy(dtype=float)
    return wide[idx, epoch] if len(idx) else np.zeros(0)


def exposure_constant(design: Design, exposure: pd.DataFrame | None) -> str | None:
    """Why ``exposures_so_far`` cannot enter ``design``'s data (None when it can): no plan, missing
    values, or the same count for every shown fact at risk in each epoch (then the epoch effects
    absorb it)."""
    if exposure is None:
        return "no training plan exposure (exposures_so_far) in the trajectories"
    if design.n == 0 or "fact_id" not in design.data.columns:
        return "no facts at risk"
    frame = design.frame()
    idx, epoch, _ = person_epochs(frame["duration"].to_numpy(), frame["event"].to_numpy())
    x = exposure_rows(design, exposure, idx, epoch)
    if np.isnan(x).any():
        return "exposures_so_far missing for some facts at risk"
    shown = x > 0
    if not shown.any():
        return "no fact at risk was shown in training"
    per = pd.DataFrame({"epoch": epoch[shown], "x": x[shown]}).groupby("epoch")["x"].nunique()
    if (per <= 1).all():
        return ("the same for every shown fact at risk in each epoch (the design does not vary exposure "
                "between facts; the epoch effects absorb it)")
    return None


def fit_cloglog(
    design: Design, *, time_varying: Sequence[str] = (), method: str = "none", bands: Sequence[int] = (),
    max_abs_coef: float = 10.0, exposure: pd.DataFrame | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Fit one design; return its rows (without model name) and the problems that void it. With
    ``exposure`` (:func:`exposure_matrix`), ``exposures_so_far`` enters each fact × epoch row as
    log(1 + count)."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    frame = design.frame()
    names = list(design.columns)
    idx, epoch, y = person_epochs(frame["duration"].to_numpy(), frame["event"].to_numpy())
    last = int(epoch.max()) if len(epoch) else 0
    ev_by = np.bincount(epoch, weights=y, minlength=last + 1)
    risk_by = np.bincount(epoch, minlength=last + 1)
    informative = [e for e in range(1, last + 1) if 0 < ev_by[e] < risk_by[e]]
    notes = []
    left = [e for e in range(1, last + 1) if risk_by[e] and e not in informative]
    if left:
        notes.append(f"epochs {left} left out (no events, or all at risk had one: no information on the covariates)")
    keep = np.isin(epoch, informative)
    idx, epoch, y = idx[keep], epoch[keep], y[keep]
    x = frame[names].to_numpy(dtype=float)[idx]
    cols: dict[str, np.ndarray] = {f"epoch[{e}]": (epoch == e).astype(float) for e in informative}
    labels: list[tuple[str, str]] = []  # (row covariate name, exog column)
    transforms = dict(design.transforms)
    if exposure is not None:
        cols[EXPOSURE_SO_FAR] = np.log1p(exposure_rows(design, exposure, idx, epoch))
        labels.append((EXPOSURE_SO_FAR, EXPOSURE_SO_FAR))
        transforms[EXPOSURE_SO_FAR] = "log1p (per fact x epoch)"
    for j, name in enumerate(names):
        xj = x[:, j]
        if name in time_varying and method == "bands":
            for lo, hi in band_edges(bands, last):
                label = f"{name}[epochs {lo}-{hi}]"
                cols[label] = xj * ((epoch >= lo) & (epoch <= hi))
                labels.append((label, label))
        else:
            cols[name] = xj
            labels.append((name, name))
            if name in time_varying and method == "log_time":
                label = f"{name}×log(epoch)"
                cols[label] = xj * np.log(epoch)
                labels.append((label, label))
    exog = pd.DataFrame(cols)
    problems: list[str] = []
    res = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.GLM(y, exog, family=sm.families.Binomial(link=sm.families.links.CLogLog())).fit(
                cov_type="cluster", cov_kwds={"groups": idx})
        except Exception as exc:  # PerfectSeparationError, LinAlgError, …
            problems.append(f"fit failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            problems.append("perfect separation: " + " ".join(str(w.message).split())[:150])
        elif w.category.__name__ == "ConvergenceWarning":
            problems.append("statsmodels: " + " ".join(str(w.message).split())[:150])
    if res is not None and not getattr(res, "converged", True):
        problems.append("IRLS did not converge")
    rows = []
    estimates: list[tuple[str, float, float, float]] = []  # (covariate, coef, lower, upper)
    for label, col in labels:
        row: dict[str, Any] = {"covariate": label, "transform": transforms.get(label.split("[")[0].split("×")[0], "")}
        if res is not None:
            b, se, p = float(res.params[col]), float(res.bse[col]), float(res.pvalues[col])
            row.update(coef=b, se_robust=se, hr=float(np.exp(b)), hr_lower_95=float(np.exp(b - Z95 * se)),
                       hr_upper_95=float(np.exp(b + Z95 * se)), p=p)
            estimates.append((label, b, b - Z95 * se, b + Z95 * se))
        rows.append(row)
    if estimates:
        names, coef, lower, upper = zip(*estimates)
        problems += estimate_problems(names, coef, lower, upper, max_abs_coef)
    for r in rows:
        r["n_person_epochs"] = int(len(y))
        r["_notes"] = notes
    return rows, sorted(set(problems))


def _rows_of(model: str, design: Design, settings: CoxSettings, dt: DiscreteTimeSettings,
             time_varying: Sequence[str] = (), problems_log: list[str] | None = None,
             exposure: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    base = {c: np.nan for c in CLOGLOG_COLUMNS}
    out = []
    for r in design.rows:  # dropped covariates, as in the Cox table
        out.append({**base, **{k: r[k] for k in ("covariate", "n", "n_events", "n_missing", "warning", "transform")},
                    "model": model, "converged": pd.NA})
    if not design.columns and exposure is None:
        return out
    notes = [n for n in design.notes if not n.startswith("penalizer") and "penalized fit" not in n]
    if design.n_events == 0:
        for name in [*design.columns, *([EXPOSURE_SO_FAR] if exposure is not None else [])]:
            out.append({**base, "model": model, "covariate": name, "n": design.n, "n_events": 0,
                        "n_missing": design.n_missing(name), "converged": False,
                        "warning": "; ".join(["not fitted: no events", *notes]),
                        "transform": design.transforms.get(name, "")})
        return out
    rows, problems = fit_cloglog(design, time_varying=time_varying, method=dt.time_varying, bands=dt.bands,
                                 max_abs_coef=settings.max_abs_coef, exposure=exposure)
    if problems:
        msg = f"{model} [{', '.join(design.columns)}]: NOT CONVERGED: " + " | ".join(problems)
        log.warning("%s", msg)
        if problems_log is not None:
            problems_log.append(msg)
    for r in rows:
        extra = r.pop("_notes")
        row = {**base, **r, "model": model, "n": design.n, "n_events": design.n_events,
               "n_missing": design.n_missing(r["covariate"]), "converged": not problems}
        if problems:
            for k in ("coef", "se_robust", "hr", "hr_lower_95", "hr_upper_95", "p"):
                row[k] = np.nan
            row["warning"] = "; ".join(["not converged: " + " | ".join(problems), *notes])
        else:
            row["warning"] = "; ".join([*extra, *notes])
        out.append(row)
    return out


def _exposure_models(events: pd.DataFrame, multi: Design, settings: CoxSettings, dt: DiscreteTimeSettings,
                     exposure: pd.DataFrame, problems: list[str]) -> list[dict[str, Any]]:
    """``exposures_so_far`` alone and added to the multivariable model, or one row saying why not."""
    alone = build_design(EXPOSURE_SO_FAR, events, [], settings)
    why = exposure_constant(alone, exposure)
    if why is not None:
        log.info("discrete-time: %s not entered: %s", EXPOSURE_SO_FAR, why)
        return [{**{c: np.nan for c in CLOGLOG_COLUMNS}, "model": "univariable", "covariate": EXPOSURE_SO_FAR,
                 "n": alone.n, "n_events": alone.n_events, "n_missing": 0, "converged": pd.NA,
                 "warning": f"dropped: {EXPOSURE_SO_FAR} {why}", "transform": ""}]
    rows = [r for r in _rows_of("univariable", alone, settings, dt, problems_log=problems, exposure=exposure)
            if r["covariate"] == EXPOSURE_SO_FAR]
    if multi.columns and exposure_constant(multi, exposure) is None:
        rows += [r for r in _rows_of(f"multivariable + {EXPOSURE_SO_FAR}", multi, settings, dt, problems_log=problems,
                                     exposure=exposure) if not str(r["warning"]).startswith("dropped")]
    return rows


def flagged_covariates(cox: pd.DataFrame | None, model: str) -> list[str]:
    """Design columns of ``model`` whose Cox proportional-hazards test is flagged (``ph_flag``)."""
    if cox is None or cox.empty or "ph_flag" not in cox.columns:
        return []
    sel = cox[(cox["model"] == model) & (cox["ph_flag"].astype(str) == "True")]
    return [str(c) for c in sel["covariate"]]


def cloglog_table(
    events: pd.DataFrame,
    settings: CoxSettings,
    dt: DiscreteTimeSettings,
    *,
    cox: pd.DataFrame | None = None,
    extra_covariates: Sequence[str] = (),
    subsets: Mapping[str, Sequence[str]] | None = None,
    exposure: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The Cox models of :func:`factsurv.analysis.cox.cox_table` refitted as discrete-time cloglog
    models (plus time-varying models for PH-flagged covariates), with the Cox HR beside each row.

    With ``exposure`` (:func:`exposure_matrix` of the run's trajectories) and
    ``dt.exposures_so_far``, two more models where the design varies exposure between facts:
    ``exposures_so_far`` alone (with the epoch effects) and the multivariable model plus it."""
    problems: list[str] = []
    covs = [*settings.covariates, *[c for c in extra_covariates if c not in settings.covariates]]
    rows: list[dict[str, Any]] = []
    if events.empty:
        rows.append({**{c: np.nan for c in CLOGLOG_COLUMNS}, "model": "multivariable", "covariate": "", "n": 0,
                     "n_events": 0, "n_missing": 0, "converged": False, "warning": "no facts at risk: no model fitted"})
        return pd.DataFrame(rows, columns=list(CLOGLOG_COLUMNS)), ["no facts at risk"]
    models: list[tuple[str, pd.DataFrame, list[str]]] = [("univariable", events, [c]) for c in covs]
    models.append(("multivariable", events, covs))
    for name, ontos in (subsets or {}).items():
        sub = events[events["ontology"].isin(list(ontos))]
        if not sub.empty:
            models.append((f"multivariable:{name}", sub, covs))
    for model, data, cv in models:
        design = build_design(model, data, cv, settings)
        rows += _rows_of(model, design, settings, dt, problems_log=problems)
        tv = [c for c in flagged_covariates(cox, model) if c in design.columns]
        if tv and dt.time_varying != "none":
            label = f"{model} + time-varying ({dt.time_varying})"
            rows += [r for r in _rows_of(label, design, settings, dt, time_varying=tv, problems_log=problems)
                     if not str(r["warning"]).startswith("dropped")]
        if model == "multivariable" and dt.exposures_so_far and exposure is not None:
            rows += _exposure_models(events, design, settings, dt, exposure, problems)
    table = pd.DataFrame(rows, columns=list(CLOGLOG_COLUMNS))
    if cox is not None and not cox.empty:
        ok = cox[cox["converged"].astype(str) == "True"].drop_duplicates(["model", "covariate"])
        ref = ok.set_index(["model", "covariate"])[["hr", "hr_lower_95", "hr_upper_95"]]
        for i, r in table.iterrows():
            key = (r["model"], r["covariate"])
            if key in ref.index:
                table.loc[i, ["cox_hr", "cox_hr_lower_95", "cox_hr_upper_95"]] = ref.loc[key].to_numpy(dtype=float)
    return table, problems
