"""Provenance written beside results: package versions, the settings a job ran with, seeds, host."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import os
import platform
import socket
from pathlib import Path
from typing import Any

PACKAGES = (
    "factsurv", "snakemake", "torch", "transformers", "tokenizers", "peft", "bitsandbytes",
    "accelerate", "lifelines", "pronto", "pandas", "numpy",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(settings: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A provenance record: what ran, with which settings, where and with which versions."""
    record: dict[str, Any] = {
        "created": now_utc(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": package_versions(),
    }
    if settings is not None:
        record["settings"] = settings
    record.update(extra)
    return record


def describe_files(paths: list[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    return [{"path": str(p), "bytes": Path(p).stat().st_size, "sha256": sha256_file(p)} for p in paths]
