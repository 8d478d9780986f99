"""Consolidation (arXiv 2601.03858: acquired facts are rarely consolidated, and learning depends on
prior exposure): per fact its acquisitions and losses over the epochs, and how long it stays right
after it is first acquired.

For a fact with greedy correctness c_0 … c_E (epoch 0: the base model):

- an **acquisition** at epoch e ≥ 1: c_{e−1} = 0 and c_e = 1; a **loss** at e: c_{e−1} = 1, c_e = 0;
  ``n_acquisitions`` and ``n_losses`` count them;
- ``first_acquisition`` a: the first acquisition (NA without one); ``acquired`` = 1 when there is one;
- ``losses_after``: losses at epochs e > a (the flip-flops of an acquired fact);
- ``retained_at_end`` = c_E (acquired facts only); ``consolidated`` = acquired and never lost after a;
- retention after the first acquisition: the first epoch f > a with c_f = 0 gives ``duration`` f − a,
  ``event`` 1; a fact never wrong again is censored at E − a (``event`` 0). A fact first acquired at
  the last epoch has no time at risk (duration 0) and stays out of the Kaplan–Meier curves.

Example: right at epochs 2, 3 and 5 of 5 → two acquisitions (2, 5), one loss (4), first acquisition 2,
one loss after it, retained at the end, not consolidated, duration 2 with event 1.

The shares (:func:`consolidation_table`) are over the facts of the kind's selection that are wrong at
epoch 0 (the facts that can be acquired; those right at baseline are the degradation analysis'):
``acquired_share`` = acquired / facts, ``flip_flop_share``, ``retained_share`` and
``consolidated_share`` = that many / acquired, each with its Wilson 95 % interval; the median
retention is the Kaplan–Meier median (inf: the curve does not fall to ½), ``logrank_p`` the log-rank
test of retention across the levels of the row's grouping column. The retention curves are
lifelines' Kaplan–Meier estimates with their (exponential Greenwood) 95 % intervals.

Groups: any per-fact column of the run's trajectories (``latent``, ``seen``, ``ontology``, the
``prior_exposure`` dose of a model given controlled prior exposure) or the probe's ``mastery``; a
column the run does not have, or has no value of, is left out with a warning.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.events import correctness_matrix
from factsurv.analysis.km import km_curve
from factsurv.analysis.summary import wilson
from factsurv.tables import CONSOLIDATION_COLUMNS, CONSOLIDATION_FACT_COLUMNS, RETENTION_KM_COLUMNS

log = logging.getLogger("factsurv")

CONSOLIDATION_KINDS = ("acquisition", "generalization")


def fact_transitions(c: np.ndarray) -> dict[str, Any]:
    """The per-fact quantities of the module docstring for one 0/1 row c_0 … c_E."""
    c = np.asarray(c, dtype=bool)
    last = len(c) - 1
    up = np.flatnonzero(~c[:-1] & c[1:]) + 1  # acquisition epochs
    down = np.flatnonzero(c[:-1] & ~c[1:]) + 1  # loss epochs
    out: dict[str, Any] = {"baseline_correct": int(c[0]), "final_correct": int(c[-1]),
                           "n_acquisitions": len(up), "n_losses": len(down)}
    if len(up) == 0:
        out.update(first_acquisition=np.nan, losses_after=np.nan, acquired=0, retained_at_end=np.nan,
                   consolidated=np.nan, duration=np.nan, event=np.nan)
        return out
    a = int(up[0])
    after = down[down > a]
    out.update(first_acquisition=a, losses_after=len(after), acquired=1, retained_at_end=int(c[-1]),
               consolidated=int(len(after) == 0))
    if len(after):
        out.update(duration=int(after[0] - a), event=1)
    else:
        out.update(duration=int(last - a), event=0)
    return out


def _value(v: Any) -> Any:
    """A group value as written: an integral float as an int (1.0 → 1)."""
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return int(v)
    return v


def group_label(var: str, value: Any) -> str:
    """``latent=1`` → "latent", ``latent=0`` → "not latent", ``seen`` likewise, else ``var=value``."""
    v = _value(value)
    names = {"latent": ("not latent", "latent"), "seen": ("unseen (withheld)", "seen (trained)")}
    if var in names and v in (0, 1):
        return names[var][int(v)]
    return f"{var}={v}"


def available_groups(facts: pd.DataFrame, group_by: Sequence[str]) -> list[str]:
    """The grouping columns of ``group_by`` that ``facts`` has (a missing one is logged)."""
    have = [g for g in group_by if g in facts.columns and facts[g].notna().any()]
    for g in group_by:
        if g not in facts.columns:
            log.warning("consolidation: grouping column %r is not among the run's per-fact columns; left out", g)
        elif g not in have:
            log.warning("consolidation: grouping column %r has no value in this run; left out", g)
    return have


def consolidation_facts(trajectories: pd.DataFrame, selection: Mapping[str, Mapping[str, Any]],
                        group_by: Sequence[str] = (), extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per fact of each kind's selection (kind → splits, ontologies): the columns
    :data:`CONSOLIDATION_FACT_COLUMNS` and then the grouping columns that the run has (from
    trajectories' epoch-0 rows, or ``extra``: per-fact columns by fact_id, e.g. the probe's mastery)."""
    facts = trajectories[trajectories["epoch"] == 0].drop(columns=["epoch", "correct"]).set_index("fact_id")
    if extra is not None:
        facts = facts.join(extra.set_index("fact_id")[[c for c in extra.columns if c != "fact_id"
                                                       and c not in facts.columns]], how="left")
    groups = available_groups(facts, group_by)
    correct = correctness_matrix(trajectories).loc[facts.index]
    parts = []
    for kind in CONSOLIDATION_KINDS:
        if kind not in selection:
            continue
        spec = selection[kind]
        keep = facts["split"].isin(list(spec["splits"]))
        if spec.get("ontologies") is not None:
            keep &= facts["ontology"].isin(list(spec["ontologies"]))
        rows = []
        for fid in sorted(facts.index[keep]):
            f = facts.loc[fid]
            rows.append({"kind": kind, "fact_id": fid, "split": f["split"], "ontology": f["ontology"],
                         **fact_transitions(correct.loc[fid].to_numpy()),
                         **{g: _value(f[g]) for g in groups}})
        parts.append(pd.DataFrame(rows, columns=[*CONSOLIDATION_FACT_COLUMNS, *groups]))
    if not parts:
        return pd.DataFrame(columns=[*CONSOLIDATION_FACT_COLUMNS, *groups])
    out = pd.concat(parts, ignore_index=True)
    for col in CONSOLIDATION_FACT_COLUMNS[4:]:
        out[col] = out[col].astype("Int64")
    return out


def group_columns(table: pd.DataFrame) -> list[str]:
    """The grouping columns of a consolidation_facts table (those after the fixed ones)."""
    return [c for c in table.columns if c not in CONSOLIDATION_FACT_COLUMNS and c != "run"]


def _levels(table: pd.DataFrame, var: str) -> list[tuple[str, pd.DataFrame]]:
    """("all", the table) or, per level of ``var`` (sorted, NA left out), (label, its rows)."""
    if var == "all":
        return [("all", table)]
    data = table.dropna(subset=[var])
    return [(group_label(var, lv), data[data[var] == lv]) for lv in sorted(pd.unique(data[var]))]


def _at_risk(g: pd.DataFrame) -> pd.DataFrame:
    """Acquired facts with time at risk after the first acquisition."""
    return g[(g["acquired"] == 1) & (g["duration"] > 0)]


def retention_logrank(table: pd.DataFrame, var: str) -> float:
    """Log-rank p of the retention after the first acquisition across the levels of ``var``."""
    from lifelines.statistics import multivariate_logrank_test

    data = _at_risk(table.dropna(subset=[var]))
    if data[var].nunique() < 2 or data["event"].sum() == 0:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = multivariate_logrank_test(data["duration"].astype(float), data[var], data["event"].astype(int))
    return float(res.p_value)


def km_median(durations: np.ndarray, events: np.ndarray) -> float:
    """Kaplan–Meier median (inf when the curve stays above ½, NaN without facts)."""
    from lifelines import KaplanMeierFitter

    if len(durations) == 0:
        return np.nan
    kmf = KaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit(np.asarray(durations, float), np.asarray(events, int))
    return float(kmf.median_survival_time_)


def share_row(g: pd.DataFrame) -> dict[str, Any]:
    """The shares of one group (its rows wrong at epoch 0)."""
    wrong = g[g["baseline_correct"] == 0]
    acq = wrong[wrong["acquired"] == 1]
    n, k = len(wrong), len(acq)
    a, a_lo, a_hi = wilson(k, n)
    flip = int((acq["losses_after"] > 0).sum())
    kept = int(acq["retained_at_end"].sum())
    cons = int(acq["consolidated"].sum())
    r, r_lo, r_hi = wilson(kept, k)
    s, s_lo, s_hi = wilson(cons, k)
    risk = _at_risk(wrong)
    return {"n_facts": n, "n_acquired": k, "acquired_share": a, "acquired_lower_95": a_lo,
            "acquired_upper_95": a_hi, "acquisitions": int(acq["n_acquisitions"].sum()),
            "acquisitions_per_acquired": float(acq["n_acquisitions"].mean()) if k else np.nan,
            "n_flip_flop": flip, "flip_flop_share": flip / k if k else np.nan, "n_retained": kept,
            "retained_share": r, "retained_lower_95": r_lo, "retained_upper_95": r_hi, "n_consolidated": cons,
            "consolidated_share": s, "consolidated_lower_95": s_lo, "consolidated_upper_95": s_hi,
            "median_retention": km_median(risk["duration"].to_numpy(), risk["event"].to_numpy())}


def consolidation_table(facts: pd.DataFrame) -> pd.DataFrame:
    """Per kind, "all" and every level of every grouping column: :data:`CONSOLIDATION_COLUMNS`."""
    rows = []
    for kind, t in facts.groupby("kind", sort=True):
        for var in ["all", *group_columns(facts)]:
            p = np.nan if var == "all" else retention_logrank(t[t["baseline_correct"] == 0], var)
            for label, g in _levels(t, var):
                rows.append({"kind": kind, "group_var": var, "group": label, **share_row(g), "logrank_p": p})
    return pd.DataFrame(rows, columns=list(CONSOLIDATION_COLUMNS))


def retention_curves(facts: pd.DataFrame, last_epoch: int) -> pd.DataFrame:
    """Kaplan–Meier share still right by epochs since the first acquisition (epochs 0 … E − 1), per
    kind, "all" and every group, over the acquired facts wrong at epoch 0 with time at risk."""
    parts = []
    horizon = max(int(last_epoch) - 1, 1)
    for kind, t in facts.groupby("kind", sort=True):
        t = _at_risk(t[t["baseline_correct"] == 0])
        for var in ["all", *group_columns(facts)]:
            for label, g in _levels(t, var):
                if g.empty:
                    continue
                k = km_curve(g["duration"].to_numpy(), g["event"].to_numpy(), horizon)
                parts.append(k.assign(kind=kind, group_var=var, group=label))
    if not parts:
        return pd.DataFrame(columns=list(RETENTION_KM_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(RETENTION_KM_COLUMNS)]


# ---------------------------------------------------------------------------------------------
# Pooled over an experiment's runs (the facts of every run, run as the cluster).

def cluster_share(y: np.ndarray, clusters: np.ndarray) -> tuple[float, float, float]:
    """Mean of 0/1 ``y`` with a 95 % interval from the cluster-robust (CR1) standard error,
    √(G/(G−1) · Σ_g (Σ_{i∈g} (y_i − ȳ))²) / n over the G clusters, clipped to [0, 1]; no interval
    with fewer than 2 clusters."""
    y = np.asarray(y, float)
    n = len(y)
    if n == 0:
        return (np.nan, np.nan, np.nan)
    p = float(y.mean())
    groups = pd.Series(y - p).groupby(np.asarray(clusters)).sum().to_numpy()
    g = len(groups)
    if g < 2:
        return (p, np.nan, np.nan)
    se = math.sqrt(g / (g - 1) * float((groups ** 2).sum())) / n
    return (p, max(0.0, p - 1.959964 * se), min(1.0, p + 1.959964 * se))


def pooled_consolidation(stacked: pd.DataFrame, cox: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The runs' consolidation_facts stacked (``run`` first): per kind and group the shares over all
    runs' facts wrong at epoch 0, intervals clustered by run, and for a two-level numeric grouping
    column the hazard ratio of losing an acquired fact (its upper level vs the lower one, Cox with
    SEs clustered by run: :func:`factsurv.analysis.cox.fit_cox`)."""
    from factsurv.analysis.cox import fit_cox
    from factsurv.tables import POOLED_CONSOLIDATION_COLUMNS

    cox = dict(cox or {})
    rows = []
    for kind, t in stacked.groupby("kind", sort=True):
        t = t[t["baseline_correct"] == 0]
        for var in ["all", *group_columns(stacked)]:
            hr = {"hr_lost": np.nan, "hr_lost_lower_95": np.nan, "hr_lost_upper_95": np.nan, "hr_lost_p": np.nan}
            note = ""
            if var != "all":
                risk = _at_risk(t.dropna(subset=[var]))
                levels = sorted(pd.unique(risk[var]))
                numeric = pd.api.types.is_numeric_dtype(risk[var])
                if len(levels) == 2 and numeric and risk["run"].nunique() >= 2 and risk["event"].sum() > 0:
                    frame = risk.assign(x=(risk[var] == levels[1]).astype(float))
                    res = fit_cox(frame, ["x"], step_size=cox.get("step_size"),
                                  retry_step_sizes=cox.get("retry_step_sizes", (0.1, 0.02)),
                                  penalizer=float(cox.get("penalizer", 0.0)),
                                  max_abs_coef=float(cox.get("max_abs_coef", 10.0)), cluster_col="run",
                                  ph_test=False)
                    if res.converged:
                        s = res.summary.loc["x"]
                        hr = {"hr_lost": float(s["exp(coef)"]), "hr_lost_lower_95": float(s["exp(coef) lower 95%"]),
                              "hr_lost_upper_95": float(s["exp(coef) upper 95%"]), "hr_lost_p": float(s["p"])}
                        note = f"HR: {group_label(var, levels[1])} vs {group_label(var, levels[0])}, SEs clustered by run"
                    else:
                        note = "HR not estimated: " + "; ".join(res.problems)
                else:
                    note = "HR only for a numeric two-level group with events in two or more runs"
            for label, g in _levels(t, var):
                clusters = g["run"].to_numpy()
                acq = g[g["acquired"] == 1]
                a = cluster_share(g["acquired"].to_numpy(), clusters)
                r = cluster_share(acq["retained_at_end"].to_numpy(), acq["run"].to_numpy())
                c = cluster_share(acq["consolidated"].to_numpy(), acq["run"].to_numpy())
                n_runs = int(g["run"].nunique())
                rows.append({"kind": kind, "group_var": var, "group": label, "n_runs": n_runs, "n_facts": len(g),
                             "n_acquired": len(acq), "acquired_share": a[0], "acquired_lower_95": a[1],
                             "acquired_upper_95": a[2], "retained_share": r[0], "retained_lower_95": r[1],
                             "retained_upper_95": r[2], "consolidated_share": c[0], "consolidated_lower_95": c[1],
                             "consolidated_upper_95": c[2],
                             "se_type": "cluster(run)" if n_runs >= 2 else "none (one run)", **hr, "note": note})
    return pd.DataFrame(rows, columns=list(POOLED_CONSOLIDATION_COLUMNS))
