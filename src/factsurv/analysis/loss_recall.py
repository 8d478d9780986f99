"""Loss vs learning (arXiv 2601.03858: the loss falls monotonically while factual learning is
unstable and non-monotonic): per epoch the training loss beside the trained facts' recall.

With ``L_e`` the mean training loss of epoch e (``checkpoint.json`` ``stats.loss``: the mean over the
epoch's batches of the plan's examples, e = 1..E) and ``R_e`` the share of the run's trained facts
(per-run split ``train``) right under greedy decoding after epoch e (e = 0..E):

- ``loss_change`` = L_e − L_{e−1} (e ≥ 2), ``recall_change`` = R_e − R_{e−1} (e ≥ 1);
- ``gained`` / ``lost``: trained facts wrong at e−1 and right at e / right at e−1 and wrong at e
  (recall_change = (gained − lost) / n_trained);
- ``agreement`` (e ≥ 2): whether the loss falls (loss_change < 0) and whether the recall rises
  (recall_change > tolerance); ``disagree`` = 1 where the loss falls and the recall is flat or down.

The correlation (:func:`loss_recall_correlation`) is between the loss decrease −loss_change and the
recall gain recall_change over the epochs 2..E where both are defined: Pearson's r with a Fisher-z
95 % interval (≥ 4 epochs) and Spearman's ρ, each with its p-value.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.events import correctness_matrix
from factsurv.tables import LOSS_RECALL_COLUMNS

log = logging.getLogger("factsurv")

AGREEMENT = {
    (True, True): "loss down, recall up",
    (True, False): "loss down, recall flat or down",
    (False, True): "loss flat or up, recall up",
    (False, False): "loss flat or up, recall flat or down",
}


def trained_matrix(trajectories: pd.DataFrame) -> pd.DataFrame:
    """facts × epochs 0/1 correctness of the run's trained facts (per-run split ``train``)."""
    ids = trajectories.loc[trajectories["split"] == "train", "fact_id"].unique()
    return correctness_matrix(trajectories).loc[sorted(ids)]


def loss_recall_table(trajectories: pd.DataFrame, train_loss: Mapping[int, float],
                      tolerance: float = 0.0) -> pd.DataFrame:
    """The per-epoch table above (:data:`LOSS_RECALL_COLUMNS`)."""
    c = trained_matrix(trajectories).to_numpy() == 1
    n = c.shape[0]
    rows: list[dict[str, Any]] = []
    for e in range(c.shape[1]):
        loss = float(train_loss[e]) if e in train_loss else np.nan
        row: dict[str, Any] = {"epoch": e, "train_loss": loss, "n_trained": n, "correct": int(c[:, e].sum()),
                               "recall": c[:, e].mean() if n else np.nan}
        if e == 0:
            row.update(loss_change=np.nan, recall_change=np.nan, gained=np.nan, lost=np.nan, agreement="",
                       disagree=np.nan)
        else:
            prev_loss = rows[-1]["train_loss"]
            row["loss_change"] = loss - prev_loss
            row["recall_change"] = row["recall"] - rows[-1]["recall"]
            row["gained"] = int((c[:, e] & ~c[:, e - 1]).sum())
            row["lost"] = int((~c[:, e] & c[:, e - 1]).sum())
            if np.isfinite(row["loss_change"]) and np.isfinite(row["recall_change"]):
                down = bool(row["loss_change"] < 0)
                up = bool(row["recall_change"] > tolerance)
                row["agreement"] = AGREEMENT[(down, up)]
                row["disagree"] = int(down and not up)
            else:
                row["agreement"], row["disagree"] = "", np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=list(LOSS_RECALL_COLUMNS))


def _fisher_interval(r: float, n: int) -> tuple[float, float]:
    if n < 4 or not np.isfinite(r) or abs(r) >= 1:
        return (np.nan, np.nan)
    z, se = math.atanh(r), 1 / math.sqrt(n - 3)
    return (math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se))


def loss_recall_correlation(table: pd.DataFrame) -> dict[str, Any]:
    """Pearson r (Fisher-z 95 % interval), Spearman ρ and their p-values between the loss decrease
    and the recall gain per epoch, over the epochs where both are defined; NaN below 3 epochs or
    when either series is constant (``note`` says which)."""
    from scipy import stats

    t = table.dropna(subset=["loss_change", "recall_change"])
    x, y = -t["loss_change"].to_numpy(float), t["recall_change"].to_numpy(float)
    out: dict[str, Any] = {"n": len(t), "pearson": np.nan, "pearson_lower_95": np.nan, "pearson_upper_95": np.nan,
                           "pearson_p": np.nan, "spearman": np.nan, "spearman_p": np.nan, "note": ""}
    if len(t) < 3:
        out["note"] = f"{len(t)} epochs with a loss and a recall change: no correlation (needs 3)"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "the " + ("loss" if np.ptp(x) == 0 else "recall") + " change is constant: no correlation"
    else:
        r, p = stats.pearsonr(x, y)
        rho, p_rho = stats.spearmanr(x, y)
        lo, hi = _fisher_interval(float(r), len(t))
        out.update(pearson=float(r), pearson_lower_95=lo, pearson_upper_95=hi, pearson_p=float(p),
                   spearman=float(rho), spearman_p=float(p_rho))
        if len(t) < 4:
            out["note"] = "3 epochs: no interval for r"
    if out["note"]:
        log.warning("loss vs recall: %s", out["note"])
    return out


def disagree_epochs(table: pd.DataFrame) -> list[int]:
    """The epochs where the loss falls and the trained recall is flat or down."""
    return [int(e) for e in table.loc[table["disagree"] == 1, "epoch"]]
