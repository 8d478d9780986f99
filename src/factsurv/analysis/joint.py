"""The joint analysis of an experiment's runs: ``results/experiments/{experiment}/``.

- :func:`stack` puts the runs' tables (trajectories, events) under each other with the grid columns
  ``run, model, seed, design`` in front.
- :func:`joint_cox` fits one Cox model per event kind on the stacked events: the fact covariates
  (transformed as in ``analysis.cox``), the grid factors as indicators against their first level,
  ``strata`` as configured, and **cluster-robust standard errors by fact** (lifelines
  ``cluster_col``): the same fact appears in every run, so its rows are not independent. Next to it,
  HR(latent) per condition (model x design; the seeds pooled, clustered by fact again). Each is a
  :func:`factsurv.analysis.cox.fit_cox` fit under the per-run convergence rules (separation and
  non-finite intervals included): a fit that fails them gives rows with ``converged`` False and the
  reason in ``note``.
- :func:`acquisition_curves`: cumulative share acquired by epoch per condition, with the band across
  seeds; :func:`degradation_by_design`: degradation of seen vs unseen facts per design.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.cox import (CoxSettings, FitResult, complete_cases, fit_cox, prepare_covariate,
                                   source_covariate)
from factsurv.tables import CURVE_COLUMNS, DEGRADATION_COLUMNS, JOINT_COX_COLUMNS, RUN_COLUMNS

log = logging.getLogger("factsurv")

FACTORS = ("design", "model", "seed")


def stack(tables: Sequence[tuple[Mapping[str, Any], pd.DataFrame]]) -> pd.DataFrame:
    """The tables under each other, each with its cell's ``run, model, seed, design`` in front."""
    parts = []
    for cell, table in tables:
        front = pd.DataFrame({c: [cell[c]] * len(table) for c in RUN_COLUMNS}, index=table.index)
        parts.append(pd.concat([front, table.drop(columns=[c for c in RUN_COLUMNS if c in table])], axis=1))
    if not parts:
        raise ValueError("no runs to stack")
    out = pd.concat(parts, ignore_index=True)
    out["seed"] = out["seed"].astype(int)
    return out


def factor_levels(events: pd.DataFrame, factor: str, order: Sequence[Any] | None = None) -> list[Any]:
    """The levels of a grid factor, the reference (first) first: grid order when given, else sorted."""
    present = set(events[factor])
    if order is not None:
        return [lv for lv in order if lv in present]
    return sorted(present)


def design_frame(
    events: pd.DataFrame,
    covariates: Sequence[str],
    factors: Sequence[str],
    strata: Sequence[str],
    settings: CoxSettings,
    levels: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[pd.DataFrame, list[str], dict[str, str], list[str], dict[str, int]]:
    """The fit frame (duration, event, fact_id, design columns, strata codes), the design columns,
    their transforms, notes on what was left out, and per covariate the rows without a value.
    Missing covariate values follow the rule of the per-run models
    (:func:`factsurv.analysis.cox.complete_cases`): a covariate without any value is left out, rows
    lacking a value of another are dropped, and the transforms are computed on the rows kept."""
    levels = levels or {}
    cases = complete_cases(events, covariates)
    events = cases.data.reset_index(drop=True)
    frame = events[["duration", "event", "fact_id"]].copy()
    frame["duration"] = frame["duration"].astype(float)
    frame["event"] = frame["event"].astype(int)
    columns: list[str] = []
    transforms: dict[str, str] = {}
    notes: list[str] = [f"{cov}: no data, left out" for cov in cases.no_data]
    if cases.n_left_out:
        notes.append(cases.note().replace("facts at risk", "rows (run x fact) at risk"))
        log.warning("joint model [%s]: %s", ", ".join(cases.usable), notes[-1])
    for cov in cases.usable:
        x, how = prepare_covariate(events[cov], cov, settings.log1p, settings.standardize)
        if x.nunique(dropna=True) < 2:
            notes.append(f"{cov}: no variation, left out")
            continue
        frame[cov] = x
        columns.append(cov)
        transforms[cov] = how
    for factor in factors:
        if factor in strata:
            continue
        lv = factor_levels(events, factor, levels.get(factor))
        if len(lv) < 2:
            continue
        for level in lv[1:]:
            name = f"{factor}[{level}]"
            frame[name] = (events[factor] == level).astype(float)
            columns.append(name)
            transforms[name] = f"indicator vs {lv[0]}"
    strata_cols = []
    for factor in strata:
        name = f"stratum_{factor}"
        frame[name] = pd.Categorical(events[factor].astype(str)).codes
        strata_cols.append(name)
    return frame, columns, transforms, notes + strata_cols, dict(cases.missing)


def fit_clustered(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    strata: Sequence[str] = (),
    cluster: bool = True,
    settings: CoxSettings,
) -> FitResult:
    """:func:`factsurv.analysis.cox.fit_cox` of a joint model on ``frame``: ``strata``, fact_id the
    cluster column when ``cluster``, the configured step sizes, penalizer and ``max_abs_coef``, no
    PH test. A failed fit's attempts go to the log."""
    res = fit_cox(frame, columns, step_size=settings.step_size, retry_step_sizes=settings.retry_step_sizes,
                  penalizer=settings.penalizer, max_abs_coef=settings.max_abs_coef, strata=strata,
                  cluster_col="fact_id" if cluster else None, ph_test=False)
    if not res.converged:
        log.warning("joint model [%s]: NOT CONVERGED: %s", ", ".join(columns), " | ".join(res.problems))
    elif res.notes:
        log.warning("joint model [%s]: %s", ", ".join(columns), " | ".join(res.notes))
    return res


def _rows(kind: str, model: str, condition: str, frame: pd.DataFrame, columns: Sequence[str], res: FitResult | None,
          strata: Sequence[str], cluster: bool, transforms: Mapping[str, str], notes: Sequence[str], n_runs: int,
          missing: Mapping[str, int]) -> list[dict[str, Any]]:
    base = {
        "kind": kind, "model": model, "condition": condition, "n": len(frame), "n_events": int(frame["event"].sum()),
        "n_runs": n_runs, "n_facts": int(frame["fact_id"].nunique()), "strata": ",".join(strata),
        "se_type": "robust (cluster: fact)" if cluster else "model",
    }

    def n_missing(column: str) -> int:
        return int(missing.get(source_covariate(column), 0))

    if res is None or not res.converged or res.summary is None:
        why = [] if res is None else ["not converged: " + res.reason()]
        note = "; ".join([*why, *notes]) or "not fitted"
        return [{**base, "covariate": c, "n_missing": n_missing(c), "converged": False,
                 "transform": transforms.get(c, ""), "note": note} for c in (columns or ["(none)"])]
    s = res.summary
    note = "; ".join([*res.notes, *notes])
    out = []
    for c in columns:
        r = s.loc[c]
        out.append({
            **base, "covariate": c, "n_missing": n_missing(c), "coef": float(r["coef"]), "se": float(r["se(coef)"]),
            "hr": float(r["exp(coef)"]), "hr_lower_95": float(r["exp(coef) lower 95%"]),
            "hr_upper_95": float(r["exp(coef) upper 95%"]), "p": float(r["p"]), "transform": transforms.get(c, ""),
            "converged": True, "note": note,
        })
    return out


def joint_cox(
    events: pd.DataFrame,
    kind: str,
    *,
    covariates: Sequence[str],
    factors: Sequence[str],
    strata: Sequence[str],
    cluster_by_fact: bool,
    settings: CoxSettings,
    levels: Mapping[str, Sequence[Any]] | None = None,
) -> pd.DataFrame:
    """The joint Cox model of one kind on the stacked events, and HR(latent) per condition."""
    rows: list[dict[str, Any]] = []
    frame, columns, transforms, notes, missing = design_frame(events, covariates, factors, strata, settings, levels)
    strata_cols = [n for n in notes if n.startswith("stratum_")]
    notes = [n for n in notes if not n.startswith("stratum_")]
    n_runs = int(events["run"].nunique()) if len(events) else 0
    if frame["event"].sum() == 0 or not columns:
        notes.append("no events" if frame["event"].sum() == 0 else "no covariates with variation")
        res = None
    else:
        res = fit_clustered(frame, columns, strata=strata_cols, cluster=cluster_by_fact, settings=settings)
    rows += _rows(kind, "joint", "all", frame, columns, res, strata, cluster_by_fact, transforms, notes, n_runs,
                  missing)
    if "latent" in covariates:
        for (model, design), sub in events.groupby(["model", "design"], sort=False):
            f, cols, tr, nn, miss = design_frame(sub, ["latent"], [], [], settings)
            nn = [n for n in nn if not n.startswith("stratum_")]
            if f["event"].sum() == 0 or not cols:
                nn.append("no events" if f["event"].sum() == 0 else "latent has no variation")
                c = None
            else:
                c = fit_clustered(f, cols, cluster=cluster_by_fact, settings=settings)
            rows += _rows(kind, "condition", f"{model}/{design}", f, ["latent"], c, [], cluster_by_fact, tr, nn,
                          int(sub["run"].nunique()), miss)
    return pd.DataFrame(rows).reindex(columns=JOINT_COX_COLUMNS)


def acquisition_curves(events: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """Cumulative share acquired by epoch 0..``epochs`` per run (all facts, and by latent), then per
    condition (model, design) and group the band across seeds."""
    per_run = []
    for (run, model, design, seed), sub in events.groupby(["run", "model", "design", "seed"], sort=False):
        groups = [("all", sub)]
        if "latent" in sub:
            groups += [(f"latent={int(v)}", g) for v, g in sub.groupby("latent") if pd.notna(v)]
        for group, g in groups:
            hit = g["event"].astype(bool).to_numpy()
            dur = g["duration"].to_numpy(dtype=float)
            for e in range(epochs + 1):
                share = float(((dur <= e) & hit).mean()) if len(g) else np.nan
                per_run.append({"model": model, "design": design, "seed": seed, "group": group, "epoch": e,
                                "share": share})
    df = pd.DataFrame(per_run)
    if df.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    band = df.groupby(["model", "design", "group", "epoch"], sort=False)["share"].agg(
        n_seeds="count", mean="mean", sd="std", min="min", max="max").reset_index()
    return band.reindex(columns=CURVE_COLUMNS)


def degradation_by_design(events: pd.DataFrame) -> pd.DataFrame:
    """Share of facts correct at baseline that were lost, seen vs unseen, per model and design."""
    rows = []
    if events.empty:
        return pd.DataFrame(columns=DEGRADATION_COLUMNS)
    for (model, design, seen), sub in events.groupby(["model", "design", "seen"], sort=False):
        per_seed = sub.groupby("seed")["event"].mean()
        rows.append({
            "model": model, "design": design, "seen": int(seen), "n_seeds": int(sub["seed"].nunique()), "n": len(sub),
            "n_events": int(sub["event"].sum()), "share": float(sub["event"].mean()),
            "seed_mean": float(per_seed.mean()), "seed_min": float(per_seed.min()), "seed_max": float(per_seed.max()),
        })
    return pd.DataFrame(rows).sort_values(["model", "design", "seen"], kind="stable").reindex(
        columns=DEGRADATION_COLUMNS)
