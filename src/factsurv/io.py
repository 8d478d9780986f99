"""Reading and writing the tidy tables that connect the stages, atomically."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


class InputError(ValueError):
    """Bad input: the message names the file and, where it can, the key, row or line."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and for directories (the block creates whichever it needs). A failure leaves
    nothing at ``path`` and removes the temporary.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # a job killed hard (SIGKILL, node loss) cannot clean up: remove its leftovers first. They are
    # never read (only the final rename publishes an output), and Snakemake never runs two jobs
    # writing the same output at once.
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written to {final}")
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_tsv(df: pd.DataFrame, path: str | os.PathLike[str], *, float_format: str | None = None) -> None:
    """Write ``df`` as a tab-separated table without index, atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, float_format=float_format, na_rep="NA")


def read_tsv(
    path: str | os.PathLike[str],
    required: Sequence[str] = (),
    *,
    dtype: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Read a table written by :func:`write_tsv`; fail naming the file if columns are missing."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    try:
        df = pd.read_csv(p, sep="\t", dtype=dtype, keep_default_na=True, na_values=["NA"], comment=None)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{p}: empty file (expected a header with columns {list(required)})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{p}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())
