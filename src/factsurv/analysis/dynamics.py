"""Learning dynamics per group: per-epoch newly acquired share, peak, convergence (SPEC §2)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from factsurv.analysis.km import group_label

DYNAMICS_COLUMNS = (
    "kind", "group_var", "group", "epoch", "n", "newly", "share_new", "cumulative_share",
    "peak_epoch", "peak_share", "final_share", "convergence_epoch",
)


def group_dynamics(durations: np.ndarray, events: np.ndarray, last_epoch: int, convergence_share: float = 0.95) -> pd.DataFrame:
    """Per epoch 1..last: facts newly acquired at e, their share of the group, cumulative share;
    peak epoch/height of the share (first maximum) and the convergence epoch (first epoch whose
    cumulative share reaches ``convergence_share`` of the final one; NA without events).
    """
    d = np.asarray(durations, dtype=int)
    ev = np.asarray(events, dtype=int)
    n = len(d)
    epochs = np.arange(1, last_epoch + 1)
    newly = np.array([int(((d == e) & (ev == 1)).sum()) for e in epochs])
    share = newly / n if n else np.full(len(epochs), np.nan)
    cum = np.cumsum(share) if n else share
    final = float(cum[-1]) if len(cum) else np.nan
    if n and newly.sum() > 0:
        peak = int(epochs[int(np.argmax(share))])
        peak_share = float(share.max())
        conv = int(epochs[int(np.flatnonzero(cum >= convergence_share * final - 1e-12)[0])])
    else:
        peak, peak_share, conv = pd.NA, np.nan, pd.NA
    return pd.DataFrame({
        "epoch": epochs, "n": n, "newly": newly, "share_new": share, "cumulative_share": cum,
        "peak_epoch": peak, "peak_share": peak_share, "final_share": final, "convergence_epoch": conv,
    })


def dynamics_table(
    events_by_kind: Mapping[str, pd.DataFrame], group_by: str = "latent", convergence_share: float = 0.95
) -> pd.DataFrame:
    """:func:`group_dynamics` for every kind, for all facts at risk and per level of ``group_by``."""
    parts = []
    for kind, ev in events_by_kind.items():
        if ev.empty:
            continue
        last = int(ev["duration"].max())
        parts.append(group_dynamics(ev["duration"], ev["event"], last, convergence_share).assign(kind=kind, group_var="all", group="all"))
        for lv in sorted(pd.unique(ev[group_by].dropna())):
            sub = ev[ev[group_by] == lv]
            parts.append(group_dynamics(sub["duration"], sub["event"], last, convergence_share).assign(
                kind=kind, group_var=group_by, group=group_label(group_by, lv)))
    if not parts:
        return pd.DataFrame(columns=list(DYNAMICS_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(DYNAMICS_COLUMNS)]
