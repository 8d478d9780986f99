"""Curated annotation counts per term, from HPO's ``phenotype.hpoa`` or a GO annotation file (GAF).

Per term two numbers:

- ``annotation_count_direct``: distinct annotated objects (diseases for HPO, gene products for GO)
  annotated to the term itself;
- ``annotation_count``: distinct objects annotated to the term or any descendant (the *true path
  rule*: an annotation to a term implies its ancestors). HPO propagates along ``is_a``; GO along
  ``is_a`` and ``part_of``. This propagated count is the covariate used by the analysis.

Rows with a ``NOT`` qualifier are dropped (they state the absence of the feature).
"""

from __future__ import annotations

import gzip
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from factsurv.data.ontology import ancestors_map
from factsurv.io import InputError
from factsurv.tables import ANNOTATION_COUNT_COLUMNS

log = logging.getLogger("factsurv.data.annotations")

HPOA_REQUIRED = ("database_id", "qualifier", "hpo_id")
GAF_MIN_COLUMNS = 15


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
            for i, line in enumerate(fh, start=1):
                yield i, line.rstrip("\n")
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read annotation file ({exc})") from None


def _rows(path: Path, comment: str) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, line, tab-separated fields) of each data line: not empty, not a comment."""
    if not path.is_file():
        raise InputError(f"{path}: annotation file not found")
    for lineno, line in _lines(path):
        if line and not line.startswith(comment):
            yield lineno, line, line.split("\t")


def _pairs_frame(path: Path, pairs: list[tuple[str, str]], dropped_not: int) -> pd.DataFrame:
    log.info("%s: %d annotations, %d NOT rows dropped", path, len(pairs), dropped_not)
    return pd.DataFrame(pairs, columns=["term_id", "object_id"])


def read_hpoa(path: str | Path) -> pd.DataFrame:
    """(term_id, object_id) pairs from ``phenotype.hpoa``; header lines start with ``#``."""
    path = Path(path)
    header: list[str] | None = None
    pairs: list[tuple[str, str]] = []
    dropped_not = 0
    for lineno, line, fields in _rows(path, "#"):
        if header is None:
            header = fields
            missing = [c for c in HPOA_REQUIRED if c not in header]
            if missing:
                raise InputError(f"{path}, line {lineno}: hpoa header lacks column(s) {missing}: {line[:120]!r}")
            i_db, i_q, i_hp = (header.index(c) for c in HPOA_REQUIRED)
            continue
        if len(fields) < len(header):
            raise InputError(f"{path}, line {lineno}: expected {len(header)} tab-separated fields, found {len(fields)}")
        if fields[i_q].strip().upper() == "NOT":
            dropped_not += 1
            continue
        pairs.append((fields[i_hp], fields[i_db]))
    if header is None:
        raise InputError(f"{path}: no hpoa header line (database_id, qualifier, hpo_id, ...) found")
    return _pairs_frame(path, pairs, dropped_not)


def read_gaf(path: str | Path) -> pd.DataFrame:
    """(term_id, object_id) pairs from a GAF 2.x file; ``!`` lines are comments."""
    path = Path(path)
    pairs: list[tuple[str, str]] = []
    dropped_not = 0
    for lineno, _, fields in _rows(path, "!"):
        if len(fields) < GAF_MIN_COLUMNS:
            raise InputError(
                f"{path}, line {lineno}: a GAF row needs at least {GAF_MIN_COLUMNS} tab-separated fields, found {len(fields)}"
            )
        qualifiers = {q.strip().upper() for q in fields[3].split("|")}
        if "NOT" in qualifiers:
            dropped_not += 1
            continue
        pairs.append((fields[4], f"{fields[0]}:{fields[1]}"))
    if not pairs:
        raise InputError(f"{path}: no annotation rows found")
    return _pairs_frame(path, pairs, dropped_not)


def read_annotations(path: str | Path, fmt: str) -> pd.DataFrame:
    if fmt == "hpoa":
        return read_hpoa(path)
    if fmt == "gaf":
        return read_gaf(path)
    raise InputError(f"{path}: unknown annotation format {fmt!r} (hpoa or gaf)")


def annotation_counts(pairs: pd.DataFrame, term_ids: list[str], edges: dict[str, list[str]]) -> pd.DataFrame:
    """Direct and propagated distinct-object counts for every term in ``term_ids``.

    ``edges`` maps a term to the terms its annotations propagate to (is_a parents, part_of targets).
    """
    ancestors = ancestors_map(edges)
    known = set(term_ids)
    direct: dict[str, set[str]] = defaultdict(set)
    for term, obj in zip(pairs["term_id"], pairs["object_id"]):
        direct[term].add(obj)
    unknown = [t for t in direct if t not in known]
    if unknown:
        log.warning("%d annotated term ids are not in the ontology (e.g. %s); they count for nothing", len(unknown), unknown[:5])
    propagated: dict[str, set[str]] = defaultdict(set)
    for term, objs in direct.items():
        if term not in known:
            continue
        propagated[term] |= objs
        for anc in ancestors.get(term, ()):
            propagated[anc] |= objs
    ids = list(term_ids)
    return pd.DataFrame(
        {
            "term_id": ids,
            "annotation_count_direct": [len(direct.get(t, ())) for t in ids],
            "annotation_count": [len(propagated.get(t, ())) for t in ids],
        }
    )[list(ANNOTATION_COUNT_COLUMNS)]
