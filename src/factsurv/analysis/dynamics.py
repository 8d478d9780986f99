"""Learning dynamics per group: per-epoch newly acquired share, peak, convergence (SPEC §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from factsurv.analysis.km import group_label
from factsurv.tables import DYNAMICS_COLUMNS

STATS = ("peak_epoch", "peak_share", "convergence_epoch", "rmst", "median_time")


def _counts(d: np.ndarray, ev: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (resampled) groups → newly acquired per epoch 1..last and facts at risk per epoch.

    ``d``, ``ev``: arrays of shape (B, n)."""
    b = d.shape[0]
    width = last + 2
    base = (np.arange(b) * width)[:, None]
    newly = np.bincount((base + d * ev).ravel(), minlength=b * width).reshape(b, width)[:, 1:last + 1]
    ends = np.bincount((base + d).ravel(), minlength=b * width).reshape(b, width)
    at_risk = ends[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:last + 1]  # duration ≥ e
    return newly, at_risk


def _stats(newly: np.ndarray, at_risk: np.ndarray, n: int, convergence_share: float) -> dict[str, np.ndarray]:
    """Per row: peak epoch and height of the incidence share, convergence epoch, restricted mean
    time to the event (area under the KM survival from epoch 0 to the last epoch) and the median."""
    last = newly.shape[1]
    epochs = np.arange(1, last + 1)
    share = newly / n
    cum = share.cumsum(axis=1)
    final = cum[:, -1]
    any_ev = newly.sum(axis=1) > 0
    peak = np.where(any_ev, epochs[share.argmax(axis=1)], np.nan)
    peak_share = np.where(any_ev, share.max(axis=1), np.nan)
    reached = cum >= convergence_share * final[:, None] - 1e-12
    conv = np.where(any_ev, epochs[reached.argmax(axis=1)], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, newly / np.maximum(at_risk, 1), 0.0)
    surv = np.cumprod(1 - hazard, axis=1)  # S(e), e = 1..last
    rmst = 1.0 + surv[:, :-1].sum(axis=1)  # S(0) = 1 on [0, 1), S(e) on [e, e+1), up to the last epoch
    below = surv <= 0.5 + 1e-12  # (products of shares: 0.5 may come out as 0.5000000000000001)
    median = np.where(below.any(axis=1), epochs[below.argmax(axis=1)], np.nan)
    return {"peak_epoch": peak, "peak_share": peak_share, "convergence_epoch": conv, "rmst": rmst,
            "median_time": median}


def group_dynamics(
    durations: np.ndarray, events: np.ndarray, last_epoch: int, convergence_share: float = 0.95,
    *, bootstrap: int = 0, seed: int | Sequence[int] = 0,
) -> pd.DataFrame:
    """Per epoch 1..last: facts newly acquired at e, their share of the group (incidence), the
    facts still at risk and the discrete hazard (newly / at risk), cumulative share; peak epoch and
    height of the share (first maximum), convergence epoch (first epoch whose cumulative share
    reaches ``convergence_share`` of the final one; NA without events), restricted mean time to the
    event up to the last epoch and median time (KM). ``bootstrap`` > 0 resamples the facts (seeded)
    for percentile 95% intervals of the per-group numbers.
    """
    d = np.asarray(durations, dtype=int)
    ev = np.asarray(events, dtype=int)
    n = len(d)
    epochs = np.arange(1, last_epoch + 1)
    out = pd.DataFrame({"epoch": epochs, "n": n})
    if n == 0:
        for c in ("newly", "n_at_risk"):
            out[c] = 0
        for c in ("share_new", "cumulative_share", "hazard", "final_share", "peak_share", "rmst"):
            out[c] = np.nan
        for c in ("peak_epoch", "convergence_epoch", "median_time"):
            out[c] = pd.NA
        out["n_bootstrap"] = 0
        return out
    newly, at_risk = _counts(d[None, :], ev[None, :], last_epoch)
    point = {k: v[0] for k, v in _stats(newly, at_risk, n, convergence_share).items()}
    share = newly[0] / n
    out["newly"] = newly[0]
    out["share_new"] = share
    out["cumulative_share"] = np.cumsum(share)
    out["n_at_risk"] = at_risk[0]
    out["hazard"] = np.where(at_risk[0] > 0, newly[0] / np.maximum(at_risk[0], 1), np.nan)
    out["final_share"] = float(np.cumsum(share)[-1]) if len(share) else np.nan
    for k in STATS:
        v = point[k]
        if k in ("peak_epoch", "convergence_epoch", "median_time"):
            out[k] = pd.NA if np.isnan(v) else int(v)
        else:
            out[k] = float(v)
    out["n_bootstrap"] = int(bootstrap)
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(int(bootstrap), n))
        bn, br = _counts(d[idx], ev[idx], last_epoch)
        boot = _stats(bn, br, n, convergence_share)
        for k in STATS:
            vals = boot[k]
            if k == "median_time":  # not reached within the run: beyond the last epoch, not missing
                vals = np.where(np.isnan(vals), np.inf, vals)
            vals = vals[~np.isnan(vals)]
            lo, hi = (np.quantile(vals, [0.025, 0.975], method="inverted_cdf") if len(vals) else (np.nan, np.nan))
            # a bound beyond the last epoch (median not reached) is reported as NA
            out[f"{k}_lower_95"] = float(lo) if np.isfinite(lo) else np.nan
            out[f"{k}_upper_95"] = float(hi) if np.isfinite(hi) else np.nan
    return out


def dynamics_table(
    events_by_kind: Mapping[str, pd.DataFrame], group_by: str = "latent", convergence_share: float = 0.95,
    *, bootstrap: int = 0, seed: int = 0,
) -> pd.DataFrame:
    """:func:`group_dynamics` for every kind, for all facts at risk and per level of ``group_by``.
    Each group's bootstrap has its own seed, derived from ``seed`` and the group's position."""
    parts = []
    for k, (kind, ev) in enumerate(events_by_kind.items()):
        if ev.empty:
            continue
        last = int(ev["duration"].max())
        opts = {"bootstrap": bootstrap}
        parts.append(group_dynamics(ev["duration"], ev["event"], last, convergence_share, seed=[seed, k, 0], **opts)
                     .assign(kind=kind, group_var="all", group="all"))
        for j, lv in enumerate(sorted(pd.unique(ev[group_by].dropna())), start=1):
            sub = ev[ev[group_by] == lv]
            parts.append(group_dynamics(sub["duration"], sub["event"], last, convergence_share, seed=[seed, k, j], **opts)
                         .assign(kind=kind, group_var=group_by, group=group_label(group_by, lv)))
    if not parts:
        return pd.DataFrame(columns=list(DYNAMICS_COLUMNS))
    return pd.concat(parts, ignore_index=True).reindex(columns=list(DYNAMICS_COLUMNS))
