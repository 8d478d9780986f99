"""The recurrent / multi-state view (arXiv 2601.03858: acquired facts are rarely kept):
wrong → acquired → forgotten → relearned …, as time to the first forgetting after acquisition.

For the facts of an event kind that are wrong at epoch 0 (acquisition: the trained facts;
generalization: the withheld ones, as selected by ``analysis.kinds``), with ``m`` = stable_epochs:

- ``acquired``: the first epoch a ≥ 1 that starts m consecutive correct epochs (as in the events);
- the clock starts when the acquisition is confirmed, at o = a + m − 1 (m = 1: at a);
- event: the first epoch f > o at which the fact is wrong again; ``duration`` = f − o;
  facts never wrong again are censored at E − o; facts confirmed only at the last epoch (o = E)
  have no time at risk and are left out (logged);
- ``n_forgettings`` / ``n_relearnings``: how often the fact goes right → wrong / wrong → right
  again from a on (the recurrent events; a relearning needs an earlier forgetting).

Computed for m = 1 and every other configured m side by side (:func:`forgetting_table`), so the
cost of requiring stability is visible: a stricter m keeps fewer, steadier facts at risk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.events import correctness_matrix, first_run
from factsurv.tables import FORGETTING_COLUMNS, FORGETTING_FACT_COLUMNS

log = logging.getLogger("factsurv")

FORGETTING_KINDS = ("acquisition", "generalization")


def forgetting_events(trajectories: pd.DataFrame, kind: str, *, splits: Sequence[str],
                      ontologies: Sequence[str] | None = None, m: int = 1) -> pd.DataFrame:
    """One row per fact of the selection that is wrong at epoch 0 and acquired (confirmed before the
    last epoch), with the columns :data:`FORGETTING_COLUMNS`."""
    if kind not in FORGETTING_KINDS:
        raise ValueError(f"forgetting after {kind!r}: expected one of {FORGETTING_KINDS}")
    if m < 1:
        raise ValueError(f"stable_epochs must be ≥ 1, got {m}")
    facts = trajectories[trajectories["epoch"] == 0].set_index("fact_id")[list(FORGETTING_FACT_COLUMNS)]
    correct = correctness_matrix(trajectories).loc[facts.index]
    keep = facts["split"].isin(list(splits)) & (correct[0] == 0)
    if ontologies is not None:
        keep &= facts["ontology"].isin(list(ontologies))
    c = correct.loc[keep].to_numpy() == 1
    last = c.shape[1] - 1
    acquired = first_run(c, m) if last - m + 1 >= 1 else np.full(len(c), -1)
    rows = []
    ids = correct.index[keep]
    for i, a in enumerate(acquired):
        if a < 0:
            continue
        origin = a + m - 1
        if origin >= last:
            continue
        after = c[i, origin + 1:]
        wrong = np.flatnonzero(~after)
        event = int(len(wrong) > 0)
        duration = int(wrong[0] + 1) if event else last - origin
        path = c[i, a:]
        down = int((path[:-1] & ~path[1:]).sum())
        up = int((~path[:-1] & path[1:]).sum())
        f = facts.loc[ids[i]]
        rows.append({"kind": kind, "m": int(m), "fact_id": ids[i], "acquired": int(a), "duration": duration,
                     "event": event, "n_forgettings": down, "n_relearnings": up,
                     "ontology": f["ontology"], "split": f["split"], "latent": f["latent"]})
    skipped = int(((acquired >= 0) & (acquired + m - 1 >= last)).sum())
    if skipped:
        log.info("%s, m=%d: %d facts acquired only at the last epoch (no time at risk) left out", kind, m, skipped)
    out = pd.DataFrame(rows, columns=list(FORGETTING_COLUMNS))
    log.info("%s, m=%d: %d facts acquired, %d forgotten later", kind, m, len(out), int(out["event"].sum()))
    return out


def forgetting_table(trajectories: pd.DataFrame, selection: Mapping[str, Mapping[str, Any]],
                     ms: Sequence[int]) -> pd.DataFrame:
    """:func:`forgetting_events` for every kind of ``selection`` (kind → splits/ontologies) and every
    m of ``ms`` (sorted, with 1 always included), stacked; an m longer than the run is skipped."""
    last = int(trajectories["epoch"].max())
    parts = []
    for kind in FORGETTING_KINDS:
        if kind not in selection:
            continue
        spec = selection[kind]
        for m in sorted({1, *(int(x) for x in ms)}):
            if m >= last:
                log.warning("forgetting: m=%d leaves no epoch after a confirmed acquisition (run has %d epochs)", m, last)
                continue
            parts.append(forgetting_events(trajectories, kind, splits=spec["splits"],
                                           ontologies=spec.get("ontologies"), m=m))
    if not parts:
        return pd.DataFrame(columns=list(FORGETTING_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(FORGETTING_COLUMNS)]


def forgetting_curves(table: pd.DataFrame, last_epoch: int) -> pd.DataFrame:
    """Kaplan–Meier share still retained by epochs since the confirmed acquisition, per kind and m:
    ``kind, m, epoch, n_at_risk, n_events, survival, survival_lower_95, survival_upper_95``."""
    from factsurv.analysis.km import km_curve

    parts = []
    for (kind, m), g in table.groupby(["kind", "m"], sort=True):
        if g.empty:
            continue
        horizon = int(last_epoch) - 1
        k = km_curve(g["duration"].to_numpy(), g["event"].to_numpy(), max(horizon, 1))
        k.insert(0, "m", int(m))
        k.insert(0, "kind", kind)
        parts.append(k[["kind", "m", "epoch", "n_at_risk", "n_events", "survival", "survival_lower_95",
                        "survival_upper_95"]])
    if not parts:
        return pd.DataFrame(columns=["kind", "m", "epoch", "n_at_risk", "n_events", "survival",
                                     "survival_lower_95", "survival_upper_95"])
    return pd.concat(parts, ignore_index=True)
