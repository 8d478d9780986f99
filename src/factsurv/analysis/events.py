"""Survival events (SPEC §2): one row per fact at risk with ``duration`` and ``event``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from factsurv.analysis import EVENT_KINDS
from factsurv.tables import EVENT_COLUMNS, PER_FACT_COLUMNS

log = logging.getLogger("factsurv")


def correctness_matrix(trajectories: pd.DataFrame) -> pd.DataFrame:
    """facts × epochs matrix of 0/1 correctness (columns 0..E)."""
    wide = trajectories.pivot(index="fact_id", columns="epoch", values="correct")
    wide = wide.reindex(columns=range(int(wide.columns.max()) + 1))
    if wide.isna().any().any():
        raise ValueError("trajectories: some fact × epoch cells are missing")
    return wide.astype(int)


def first_run(hits: np.ndarray, m: int) -> np.ndarray:
    """Per row, the first column index j ≥ 1 such that ``hits[row, j:j+m]`` are all true; −1 if none.

    ``hits`` is a boolean facts × epochs array whose column 0 is epoch 0 (never an event time).
    """
    n, width = hits.shape
    out = np.full(n, -1, dtype=int)
    for j in range(width - m, 0, -1):
        ok = hits[:, j:j + m].all(axis=1)
        out[ok] = j
    return out


def event_times(correct: pd.DataFrame, *, target: int, m: int = 1) -> pd.DataFrame:
    """Time to the first (stable) epoch ≥ 1 at which correctness equals ``target``.

    Event: the first epoch e ≥ 1 that starts ``m`` consecutive epochs with ``correct == target``.
    Facts without one are censored at the last epoch from which m epochs can be seen, E − m + 1.
    """
    last = int(correct.columns.max())
    if m < 1:
        raise ValueError(f"stable_epochs must be ≥ 1, got {m}")
    if last - m + 1 < 1:
        raise ValueError(f"stable_epochs m={m} needs at least {m} trained epochs; this run has {last}")
    hits = correct.to_numpy() == target
    t = first_run(hits, m)
    event = (t > 0).astype(int)
    duration = np.where(event == 1, t, last - m + 1)
    return pd.DataFrame({"fact_id": correct.index, "duration": duration, "event": event})


def per_fact_table(trajectories: pd.DataFrame) -> pd.DataFrame:
    """One row per fact with its covariates (``seen``: shown in training, from the plan; older
    trajectories without the plan's or the exposure's columns: split == train, the rest NA)."""
    first = trajectories[trajectories["epoch"] == 0].copy()
    if "seen" not in first.columns or first["seen"].isna().all():
        first["seen"] = (first["split"] == "train").astype(int)
    for col in ("exposures", "first_exposure_epoch", "prior_exposure"):
        if col not in first.columns:
            first[col] = pd.NA
    return first.set_index("fact_id")[list(PER_FACT_COLUMNS)]


def build_events(
    trajectories: pd.DataFrame,
    kind: str,
    *,
    splits: Sequence[str],
    ontologies: Sequence[str] | None = None,
    m: int = 1,
) -> pd.DataFrame:
    """The event table of ``kind`` for the facts of the given splits and ontologies (None: all).

    acquisition/generalization: facts wrong at epoch 0, event = first (stable) correct epoch.
    degradation: facts correct at epoch 0, event = first wrong epoch (``m`` applies the same way).
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r} (expected one of {EVENT_KINDS})")
    facts = per_fact_table(trajectories)
    correct = correctness_matrix(trajectories).loc[facts.index]
    keep = facts["split"].isin(list(splits))
    if ontologies is not None:
        unknown = sorted(set(ontologies) - set(facts["ontology"]))
        if unknown:
            log.warning("%s: ontologies %s are not in the facts (present: %s)",
                        kind, unknown, sorted(facts["ontology"].unique()))
        keep &= facts["ontology"].isin(list(ontologies))
    baseline_state = 1 if kind == "degradation" else 0
    keep &= correct[0] == baseline_state
    target = 0 if kind == "degradation" else 1
    times = event_times(correct.loc[keep], target=target, m=m)
    out = times.merge(facts.reset_index(), on="fact_id", how="left")
    log.info("%s: %d facts at risk, %d events", kind, len(out), int(out["event"].sum()))
    if out.empty:
        log.warning("%s: no facts at risk (splits %s, ontologies %s)", kind, list(splits), ontologies)
    return out[list(EVENT_COLUMNS)].reset_index(drop=True)
