"""Reading and validating the analysis stage's inputs (facts, literature, probe, eval tables).

Every problem raises :class:`factsurv.io.InputError` naming the file and the line (the header is
line 1, so the first data row is line 2) or the key at fault.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from factsurv.io import InputError, read_tsv
from factsurv.tables import (
    ANALYSIS_FACT_COLUMNS,
    BASELINE_COLUMNS,
    EVAL_COLUMNS,
    EVAL_REQUIRED,
    FACT_COVARIATES,
    FACT_SPLITS,
    LITERATURE_COLUMNS,
)


_TRUE = {"1", "true", "1.0"}
_FALSE = {"0", "false", "0.0"}


def _line(pos: int) -> int:
    """File line of the data row at position ``pos`` (header = line 1)."""
    return int(pos) + 2


def parse_binary(values: pd.Series, path: str | os.PathLike[str], column: str, keys: pd.Series) -> pd.Series:
    """``values`` (read as strings) → int 0/1; anything else raises naming file, line and fact."""
    text = values.astype("string").str.strip().str.lower()
    ok = text.isin(_TRUE | _FALSE)
    if not ok.all():
        pos = int(np.flatnonzero(~ok.to_numpy(dtype=bool, na_value=False))[0])
        raw = values.iloc[pos]
        raise InputError(
            f"{path}: line {_line(pos)} (fact_id {keys.iloc[pos]!r}): column {column!r} must be 0 or 1, "
            f"got {raw!r}" + (f" ({int((~ok).sum())} bad values in all)" if (~ok).sum() > 1 else "")
        )
    return text.isin(_TRUE).astype(int)


def _numeric(df: pd.DataFrame, column: str, path: str | os.PathLike[str], *, allow_na: bool = True) -> pd.Series:
    raw = df[column]
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna() if allow_na else num.isna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {_line(pos)} (fact_id {df['fact_id'].iloc[pos]!r}): column {column!r} must be "
            f"a number, got {raw.iloc[pos]!r}"
        )
    return num.astype(float)


def _check_ids(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    missing = df["fact_id"].isna()
    if missing.any():
        pos = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(f"{path}: line {_line(pos)}: empty fact_id")
    dup = df["fact_id"].duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{path}: line {_line(pos)}: duplicate fact_id {df['fact_id'].iloc[pos]!r}")


def _check_known(df: pd.DataFrame, known: pd.Index, path: str | os.PathLike[str], facts_path: str) -> None:
    unknown = ~df["fact_id"].isin(known)
    if unknown.any():
        pos = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            f"{path}: line {_line(pos)}: fact_id {df['fact_id'].iloc[pos]!r} is not in {facts_path}"
            + (f" ({int(unknown.sum())} unknown ids in all)" if unknown.sum() > 1 else "")
        )


def _check_complete(df: pd.DataFrame, known: pd.Index, path: str | os.PathLike[str], facts_path: str) -> None:
    absent = known.difference(pd.Index(df["fact_id"]))
    if len(absent):
        raise InputError(
            f"{path}: {len(absent)} fact(s) of {facts_path} have no row, e.g. fact_id {sorted(absent)[0]!r}"
        )


def load_facts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """facts.tsv, validated: unique ids, split ∈ {train, heldout}, numeric covariates."""
    df = read_tsv(path, ANALYSIS_FACT_COLUMNS, dtype={"fact_id": str, "ontology": str, "term_id": str, "split": str})
    _check_ids(df, path)
    bad = ~df["split"].isin(FACT_SPLITS)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {_line(pos)} (fact_id {df['fact_id'].iloc[pos]!r}): split must be one of "
            f"{list(FACT_SPLITS)}, got {df['split'].iloc[pos]!r}"
        )
    if df["ontology"].isna().any():
        pos = int(np.flatnonzero(df["ontology"].isna().to_numpy())[0])
        raise InputError(f"{path}: line {_line(pos)}: empty ontology")
    for col in FACT_COVARIATES:
        df[col] = _numeric(df, col, path)
    return df.reset_index(drop=True)


def load_literature(path: str | os.PathLike[str], facts: pd.DataFrame, facts_path: str = "facts.tsv") -> pd.DataFrame:
    """literature_counts.tsv → one row per fact (facts without a row get NA)."""
    df = read_tsv(path, LITERATURE_COLUMNS, dtype={"fact_id": str})
    _check_ids(df, path)
    _check_known(df, pd.Index(facts["fact_id"]), path, facts_path)
    for col in LITERATURE_COLUMNS[1:]:
        df[col] = _numeric(df, col, path)
    out = facts[["fact_id"]].merge(df[list(LITERATURE_COLUMNS)], on="fact_id", how="left")
    return out


def load_baseline(path: str | os.PathLike[str], facts: pd.DataFrame, facts_path: str = "facts.tsv") -> pd.DataFrame:
    """The probe's baseline.tsv: ``latent`` and ``greedy_correct`` as 0/1, ``p_correct`` in [0, 1]."""
    df = read_tsv(path, BASELINE_COLUMNS, dtype=str)
    _check_ids(df, path)
    _check_known(df, pd.Index(facts["fact_id"]), path, facts_path)
    _check_complete(df, pd.Index(facts["fact_id"]), path, facts_path)
    for col in ("latent", "greedy_correct"):
        df[col] = parse_binary(df[col], path, col, df["fact_id"])
    for col in ("n_samples", "n_correct_samples", "p_correct"):
        df[col] = _numeric(df, col, path)
    bad = (df["p_correct"] < 0) | (df["p_correct"] > 1)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {_line(pos)} (fact_id {df['fact_id'].iloc[pos]!r}): p_correct must be in [0, 1], "
            f"got {df['p_correct'].iloc[pos]}"
        )
    return df[list(BASELINE_COLUMNS)].reset_index(drop=True)


_EPOCH_FILE = re.compile(r"epoch_(\d+)\.tsv$")


def epoch_of_path(path: str | os.PathLike[str]) -> int | None:
    """The epoch in a file name ``.../epoch_{e}.tsv`` (None if the name has none)."""
    m = _EPOCH_FILE.search(str(path))
    return int(m.group(1)) if m else None


def load_eval(
    path: str | os.PathLike[str], epoch: int, facts: pd.DataFrame, facts_path: str = "facts.tsv"
) -> pd.DataFrame:
    """One eval table: ``fact_id, epoch, prediction, correct`` (and optionally the answer's confidence),
    every fact once, all at ``epoch``."""
    df = read_tsv(path, EVAL_REQUIRED, dtype=str)
    extra = [c for c in df.columns if c not in EVAL_COLUMNS]
    if extra:
        raise InputError(f"{path}: unexpected column(s) {extra}; an eval table has {list(EVAL_COLUMNS)}")
    _check_ids(df, path)
    _check_known(df, pd.Index(facts["fact_id"]), path, facts_path)
    _check_complete(df, pd.Index(facts["fact_id"]), path, facts_path)
    ep = pd.to_numeric(df["epoch"], errors="coerce")
    bad = ep.isna() | (ep != epoch)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: line {_line(pos)} (fact_id {df['fact_id'].iloc[pos]!r}): epoch must be {epoch}, "
            f"got {df['epoch'].iloc[pos]!r}"
        )
    df["epoch"] = int(epoch)
    df["correct"] = parse_binary(df["correct"], path, "correct", df["fact_id"])
    return df.reset_index(drop=True)


def load_evals(
    paths: Sequence[str | os.PathLike[str]], facts: pd.DataFrame, facts_path: str = "facts.tsv",
    epochs: int | None = None,
) -> pd.DataFrame:
    """All eval tables of a run, stacked; the epochs must be exactly 0, 1, …, E (E = ``epochs`` if given).

    The epoch of each file is read from its name ``epoch_{e}.tsv`` (or, failing that, its position).
    """
    by_epoch: dict[int, str] = {}
    for pos, p in enumerate(paths):
        e = epoch_of_path(p)
        e = pos if e is None else e
        if e in by_epoch:
            raise InputError(f"{p}: epoch {e} given twice (also {by_epoch[e]})")
        by_epoch[e] = str(p)
    if not by_epoch:
        raise InputError("no eval tables given (expected epoch_0.tsv … epoch_E.tsv)")
    last = max(by_epoch) if epochs is None else int(epochs)
    missing = [e for e in range(last + 1) if e not in by_epoch]
    if missing:
        where = Path(next(iter(by_epoch.values()))).parent
        raise InputError(
            f"{where}: eval table(s) missing for epoch(s) {missing} (expected epoch_0.tsv … epoch_{last}.tsv)"
        )
    beyond = [e for e in by_epoch if e > last]
    if beyond:
        raise InputError(f"{by_epoch[beyond[0]]}: epoch {beyond[0]} is beyond the run's last epoch {last}")
    tables = [load_eval(by_epoch[e], e, facts, facts_path) for e in range(last + 1)]
    return pd.concat(tables, ignore_index=True)
