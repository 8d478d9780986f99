"""Per-epoch sets of facts (as in the code of arXiv 2601.03858), confident errors and training loss.

For every split and epoch e ≥ 1, with ``correct[f, e]`` the greedy correctness of fact f:

- ``correct``: facts right at e ("learned" in that paper's code);
- ``new``: right at e and never right at any epoch before (0 … e−1);
- ``retained``: right at e and at e−1;
- ``forgotten``: right at e−1, wrong at e;
- ``relearned``: right at e, wrong at e−1, right at some epoch before e−1;

so that ``correct = new + retained + relearned``. Epoch 0 has only ``correct``. ``best_epoch`` (per
split) is the first epoch with the most facts right.

**Confident errors** (arXiv 2503.21676: hallucinations appear together with knowledge): a
wrong greedy answer whose mean token probability, ``exp(answer_logprob / answer_tokens)``, is at
least ``threshold``; their share of the split's facts per epoch. Eval tables without confidence
columns leave it NA.

The training loss of each epoch comes from the checkpoint's ``checkpoint.json`` (``stats.loss``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from factsurv.tables import SET_COLUMNS


def epoch_sets(trajectories: pd.DataFrame, confidence: pd.DataFrame | None = None, threshold: float = 0.5,
               train_loss: Mapping[int, float] | None = None) -> pd.DataFrame:
    """The table above from ``trajectories`` (``fact_id, epoch, correct, split``), optionally the eval
    tables stacked (``fact_id, epoch, correct, answer_logprob, answer_tokens``) and losses by epoch."""
    wide = trajectories.pivot_table(index="fact_id", columns="epoch", values="correct", aggfunc="first")
    wide = wide.sort_index(axis=1).astype(int)
    split = trajectories.drop_duplicates("fact_id").set_index("fact_id")["split"].reindex(wide.index)
    conf = None
    if confidence is not None and {"answer_logprob", "answer_tokens"} <= set(confidence.columns):
        c = confidence.copy()
        tokens = pd.to_numeric(c["answer_tokens"], errors="coerce").clip(lower=1)
        p = np.exp(pd.to_numeric(c["answer_logprob"], errors="coerce") / tokens)
        c["confident_error"] = ((p >= threshold) & (pd.to_numeric(c["correct"]) == 0)).astype(int)
        conf = c.pivot_table(index="fact_id", columns="epoch", values="confident_error", aggfunc="first")
    rows = []
    epochs = list(wide.columns)
    for s in sorted(split.unique()):
        w = wide[split == s].to_numpy()
        ever_before = np.zeros(len(w), dtype=bool)
        for i, e in enumerate(epochs):
            now = w[:, i] == 1
            row = {"split": s, "epoch": int(e), "n": len(w), "correct": int(now.sum())}
            if i == 0:
                row.update(new=np.nan, retained=np.nan, forgotten=np.nan, relearned=np.nan)
            else:
                prev = w[:, i - 1] == 1
                earlier = ever_before & ~prev  # right at some epoch before e−1 (and wrong at e−1)
                row.update(new=int((now & ~ever_before).sum()), retained=int((now & prev).sum()),
                           forgotten=int((prev & ~now).sum()), relearned=int((now & ~prev & earlier).sum()))
            if conf is not None and e in conf.columns:
                ce = conf.loc[wide.index[split == s], e]
                row["confident_errors"] = int(ce.sum())
                row["confident_error_share"] = float(ce.mean())
            else:
                row["confident_errors"], row["confident_error_share"] = np.nan, np.nan
            row["train_loss"] = float(train_loss[int(e)]) if train_loss and int(e) in train_loss else np.nan
            rows.append(row)
            ever_before |= now
    out = pd.DataFrame(rows)
    best = out.sort_values(["split", "correct", "epoch"], ascending=[True, False, True]).drop_duplicates("split")
    out["best_epoch"] = out["split"].map(dict(zip(best["split"], best["epoch"])))
    return out[list(SET_COLUMNS)]


def train_losses(checkpoint_dirs: Sequence[str | os.PathLike[str]]) -> dict[int, float]:
    """epoch → mean training loss, read from each checkpoint's ``checkpoint.json``."""
    out: dict[int, float] = {}
    for d in checkpoint_dirs:
        meta = json.loads((Path(d) / "checkpoint.json").read_text())
        stats = meta.get("stats") or {}
        if "loss" in stats:
            out[int(meta["epoch"])] = float(stats["loss"])
    return out
