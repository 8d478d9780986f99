"""The run's headline numbers (the paper's), as one tidy table ``metric, group, value, …``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = ("metric", "group", "value", "lower_95", "upper_95", "p", "note")
DEMO_NOTE = ("results from the small demo model that the workflow built and pretrained itself on a "
             "synthetic corpus, not from Llama-3.1-8B-Instruct")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float, float]:
    """Share k/n with its Wilson 95% interval (NaN when n = 0)."""
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def _row(metric: str, group: str, value: float, lo: float = np.nan, hi: float = np.nan, p: float = np.nan, note: str = "") -> dict[str, Any]:
    return {"metric": metric, "group": group, "value": value, "lower_95": lo, "upper_95": hi, "p": p, "note": note}


def _share_rows(metric: str, group: str, hits: pd.Series, note: str = "") -> dict[str, Any]:
    k, n = int(hits.sum()), int(len(hits))
    v, lo, hi = wilson(k, n)
    return _row(metric, group, v, lo, hi, note=f"{k}/{n}" + (f"; {note}" if note else ""))


def summary_table(
    trajectories: pd.DataFrame,
    events: Mapping[str, pd.DataFrame],
    cox_acquisition: pd.DataFrame,
    logrank: Mapping[str, pd.DataFrame],
    dynamics: pd.DataFrame,
    *,
    demo: bool = False,
) -> pd.DataFrame:
    """Baseline and final greedy recall per ontology/split, latent share, HR of latent for
    acquisition (every model that has it), generalization and degradation shares, log-rank p,
    peak and convergence epochs. Shares carry Wilson 95% intervals.
    """
    rows: list[dict[str, Any]] = []
    if demo:
        rows.append(_row("model", "all", np.nan, note=DEMO_NOTE))
    last = int(trajectories["epoch"].max())
    rows.append(_row("epochs", "all", float(last)))
    for (onto, split), g in trajectories.groupby(["ontology", "split"], sort=True):
        grp = f"{onto}/{split}"
        rows.append(_share_rows("baseline_greedy_recall", grp, g.loc[g["epoch"] == 0, "correct"], "epoch 0"))
        rows.append(_share_rows("final_recall", grp, g.loc[g["epoch"] == last, "correct"], f"epoch {last}"))
        base = g[g["epoch"] == 0]
        rows.append(_share_rows("latent_share", grp, base["latent"] == 1, "of all facts"))
        rows.append(_share_rows("latent_share_of_wrong", grp, base.loc[base["correct"] == 0, "latent"] == 1,
                                "of facts wrong under greedy decoding at epoch 0"))
    cx = cox_acquisition[cox_acquisition["covariate"] == "latent"]
    for r in cx.itertuples():
        ok = r.converged is True or str(r.converged) == "True"
        rows.append(_row("hr_latent_acquisition", str(r.model), float(r.hr) if ok else np.nan,
                         float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                         float(r.p) if ok else np.nan,
                         note=f"n={r.n}, events={r.n_events}" + (f"; {r.warning}" if isinstance(r.warning, str) and r.warning else "")))
    if "latent" not in set(cx["covariate"]):
        rows.append(_row("hr_latent_acquisition", "multivariable", np.nan, note="latent not in the Cox models"))
    gen = events.get("generalization")
    if gen is not None and not gen.empty:
        for onto, g in gen.groupby("ontology", sort=True):
            rows.append(_share_rows("generalization_share", str(onto), g["event"] == 1, "withheld facts wrong at epoch 0"))
            for lv, gl in g.groupby("latent"):
                rows.append(_share_rows("generalization_share", f"{onto}/{'latent' if lv == 1 else 'not latent'}", gl["event"] == 1))
    else:
        rows.append(_row("generalization_share", "all", np.nan, note="no withheld facts at risk"))
    deg = events.get("degradation")
    if deg is not None and not deg.empty:
        for (onto, seen), g in deg.groupby(["ontology", "seen"], sort=True):
            rows.append(_share_rows("degradation_share", f"{onto}/{'seen' if seen == 1 else 'unseen'}", g["event"] == 1,
                                    "facts correct at epoch 0"))
        for seen, g in deg.groupby("seen", sort=True):
            rows.append(_share_rows("degradation_share", "seen" if seen == 1 else "unseen", g["event"] == 1))
    else:
        rows.append(_row("degradation_share", "all", np.nan, note="no facts correct at epoch 0"))
    for kind, lr in logrank.items():
        for r in lr.itertuples():
            rows.append(_row(f"logrank_{kind}", str(r.group_var), float(r.test_statistic), p=float(r.p),
                             note=f"{r.groups}; n={r.n}; events={r.n_events}" + (f"; {r.note}" if isinstance(r.note, str) and r.note else "")))
    if not dynamics.empty:
        per = dynamics.drop_duplicates(["kind", "group_var", "group"])
        for r in per.itertuples():
            grp = f"{r.kind}/{r.group}"
            rows.append(_row("peak_share_new", grp, float(r.peak_share),
                             note=f"peak epoch {r.peak_epoch}" if not pd.isna(r.peak_epoch) else "no events"))
            rows.append(_row("convergence_epoch", grp, float(r.convergence_epoch) if not pd.isna(r.convergence_epoch) else np.nan,
                             note=f"final cumulative share {r.final_share:.3f}"))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
