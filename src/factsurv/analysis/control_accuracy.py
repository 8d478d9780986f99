"""Out-of-domain accuracy per epoch from the control tables: ``analysis/control.tsv``.

One row per item kind (arithmetic, multiple_choice) and epoch: items, items right, the accuracy
with its Wilson 95% interval, and the chance level of guessing (:func:`factsurv.control.chance_level`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from factsurv.analysis.summary import wilson
from factsurv.control import chance_level
from factsurv.io import InputError, read_tsv
from factsurv.tables import CONTROL_ACCURACY_COLUMNS, CONTROL_COLUMNS, CONTROL_ITEM_COLUMNS


def control_accuracy(items: pd.DataFrame, tables: pd.DataFrame) -> pd.DataFrame:
    """The table above from the items and the per-epoch control tables stacked."""
    rows = []
    for (kind, epoch), g in tables.groupby(["kind", "epoch"], sort=True):
        k, n = int(g["correct"].sum()), len(g)
        acc, lo, hi = wilson(k, n)
        rows.append({"kind": kind, "epoch": int(epoch), "n": n, "correct": k, "accuracy": acc,
                     "lower_95": lo, "upper_95": hi, "chance": chance_level(items[items["kind"] == kind])})
    return pd.DataFrame(rows, columns=list(CONTROL_ACCURACY_COLUMNS))


def control_accuracy_from_files(items_path: str | os.PathLike[str],
                                table_paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Read and check the items and the control tables (every item once per epoch), then
    :func:`control_accuracy`."""
    items = read_tsv(items_path, CONTROL_ITEM_COLUMNS, dtype={c: str for c in CONTROL_ITEM_COLUMNS})
    want = set(items["item_id"])
    parts = []
    for p in table_paths:
        t = read_tsv(p, CONTROL_COLUMNS, dtype={"item_id": str, "kind": str, "prediction": str})
        got = set(t["item_id"])
        if got != want or t["item_id"].duplicated().any():
            raise InputError(f"{p}: its items differ from {items_path} ({len(want - got)} missing, "
                             f"{len(got - want)} unknown, {int(t['item_id'].duplicated().sum())} repeated); "
                             "re-run the control probe")
        bad = sorted(set(t["correct"].astype(str)) - {"0", "1"})
        if bad:
            raise InputError(f"{p}: column correct must be 0 or 1, found {bad[:5]}")
        parts.append(t)
    return control_accuracy(items, pd.concat(parts, ignore_index=True))
