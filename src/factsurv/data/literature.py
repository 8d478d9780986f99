"""Literature frequencies per fact: how often the identifier and the label are mentioned.

Sources (``literature.source``):

- ``none``: both covariates are missing (NA) — the analysis drops them with a logged warning;
- ``table``: a TSV the user supplies with ``term_id`` (or ``fact_id``), ``identifier_frequency``,
  ``term_frequency``;
- ``europepmc``: hit counts of the Europe PMC search, fetched (and cached) by the rule
  ``fetch_europepmc`` (:mod:`factsurv.data.europepmc`); this module reads its table;
- ``corpus``: counted in local text files (``.txt``, ``.txt.gz``; folders are searched recursively).
  ``identifier_frequency`` counts exact identifiers (``HP:0001250``), ``term_frequency`` counts the
  label as whole words, case-insensitively, each label independently (so "Seizure" is counted inside
  "Focal seizure" too). Matches do not span lines.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from factsurv.io import InputError, read_tsv
from factsurv.tables import LITERATURE_COLUMNS, LITERATURE_COVARIATES

log = logging.getLogger("factsurv.data.literature")

_WORD = re.compile(r"\w+")
_IDENT = re.compile(r"(?<![\w:])([A-Za-z]+:\d{7})(?!\d)")


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and (f.suffix == ".txt" or f.name.endswith(".txt.gz")))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"literature.corpus: {p}: no such file or folder")
    if not files:
        raise InputError(f"literature.corpus: no .txt files in {[str(p) for p in paths]}")
    return files


def _lines(files: list[Path]) -> Iterator[str]:
    for f in files:
        opener = gzip.open if f.name.endswith(".gz") else open
        try:
            with opener(f, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
                yield from fh
        except UnicodeDecodeError as exc:
            raise InputError(
                f"literature.corpus: {f}, line {_first_bad_line(f, opener)}: not UTF-8 ({exc.reason}); "
                "convert it, e.g. iconv -f latin1 -t utf-8"
            ) from None


def _first_bad_line(path: Path, opener) -> int | str:  # noqa: ANN001
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return "?"


def count_in_corpus(facts: pd.DataFrame, files: list[Path]) -> pd.DataFrame:
    """Mentions of each fact's identifier and label in ``files``."""
    label_words = {fid: tuple(_WORD.findall(str(lab).casefold())) for fid, lab in zip(facts["fact_id"], facts["label"])}
    by_first: dict[str, set[tuple[str, ...]]] = {}
    for words in label_words.values():
        if words:
            by_first.setdefault(words[0], set()).add(words)
    wanted_ids = set(facts["term_id"])
    ident_counts: Counter[str] = Counter()
    label_counts: Counter[tuple[str, ...]] = Counter()
    for line in _lines(files):
        for m in _IDENT.finditer(line):
            if m.group(1) in wanted_ids:
                ident_counts[m.group(1)] += 1
        words = _WORD.findall(line.casefold())
        for i, w in enumerate(words):
            cands = by_first.get(w)
            if cands:
                for lab in cands:
                    if tuple(words[i : i + len(lab)]) == lab:
                        label_counts[lab] += 1
    return pd.DataFrame(
        {
            "fact_id": facts["fact_id"],
            "identifier_frequency": [ident_counts.get(t, 0) for t in facts["term_id"]],
            "term_frequency": [label_counts.get(label_words[f], 0) for f in facts["fact_id"]],
        }
    )


def from_table(facts: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    table = read_tsv(path)
    key = "fact_id" if "fact_id" in table.columns else "term_id"
    if key not in table.columns:
        raise InputError(f"{path}: needs a term_id or fact_id column; found {list(table.columns)}")
    cols = [c for c in LITERATURE_COVARIATES if c in table.columns]
    if not cols:
        raise InputError(f"{path}: needs identifier_frequency and/or term_frequency columns; found {list(table.columns)}")
    for c in cols:
        bad = pd.to_numeric(table[c], errors="coerce")
        rows = table.index[(bad.isna() & table[c].notna()) | (bad < 0)].tolist()
        if rows:
            raise InputError(f"{path}, row {rows[0] + 2}: {c} must be a non-negative count, got {table[c].iloc[rows[0]]!r}")
    dup = table[key].duplicated()
    if dup.any():
        raise InputError(f"{path}, row {int(dup.idxmax()) + 2}: duplicate {key} {table[key][dup].iloc[0]!r}")
    merged = facts[["fact_id", "term_id"]].merge(table[[key, *cols]], on=key, how="left")
    missing = merged[cols[0]].isna().sum()
    if missing:
        log.warning("%s: %d of %d facts are not in the table; their frequencies are NA", path, missing, len(facts))
    for c in LITERATURE_COVARIATES:
        if c not in merged:
            log.warning("%s: no %s column; the covariate is NA and will be dropped", path, c)
            merged[c] = pd.NA
    return merged[list(LITERATURE_COLUMNS)]


def literature_counts(
    facts: pd.DataFrame,
    source: str,
    *,
    table: str | None = None,
    corpus: list[str] | None = None,
    fetched: str | None = None,
    overrides: str | None = None,
) -> pd.DataFrame:
    """The counts of ``source``; where ``overrides`` (the fact table's own counts, written by the rule
    that made facts.tsv: no rows or no values unless a fact table gives counts) gives a value, it
    replaces the counted one."""
    given = read_tsv(overrides, LITERATURE_COLUMNS, dtype={"fact_id": str}) if overrides else None
    if given is not None and not given[list(LITERATURE_COVARIATES)].notna().to_numpy().any():
        given = None  # no fact table, or one without counts
    counts = _from_source(facts, source, table=table, corpus=corpus, fetched=fetched,
                          overrides=overrides if given is not None else None)
    if given is not None:
        counts = apply_overrides(counts, given, str(overrides))
    return counts


def apply_overrides(counts: pd.DataFrame, given: pd.DataFrame, path: str) -> pd.DataFrame:
    given = _align(counts, given)
    out = counts.copy()
    for c in LITERATURE_COVARIATES:
        value = pd.to_numeric(given[c], errors="coerce")
        n = int(value.notna().sum())
        if n:
            out[c] = value.where(value.notna(), pd.to_numeric(out[c], errors="coerce")).astype("Float64")
            if (out[c].dropna() == out[c].dropna().round()).all():
                out[c] = out[c].round().astype("Int64")
            log.info("%s: %s from the fact table for %d of %d facts", path, c, n, len(out))
    return out


def _align(counts: pd.DataFrame, given: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``given`` for the facts of ``counts``, in their order (NA where absent)."""
    return counts[["fact_id"]].merge(given, on="fact_id", how="left")


def from_fetched(facts: pd.DataFrame, path: str) -> pd.DataFrame:
    """The table of the rule fetch_europepmc → LITERATURE_COLUMNS in the order of ``facts``."""
    table = read_tsv(path, LITERATURE_COLUMNS, dtype={"fact_id": str})
    merged = _align(facts[["fact_id"]], table[list(LITERATURE_COLUMNS)])
    missing = merged["identifier_frequency"].isna()
    if missing.any():
        raise InputError(f"{path}: no counts for fact {merged['fact_id'][missing].iloc[0]!r} (re-run fetch_europepmc)")
    return merged


def _from_source(facts: pd.DataFrame, source: str, *, table: str | None, corpus: list[str] | None,
                 fetched: str | None, overrides: str | None) -> pd.DataFrame:
    if source == "europepmc":
        if not fetched:
            raise InputError("literature.source 'europepmc': the fetched counts (rule fetch_europepmc) are missing")
        return from_fetched(facts, fetched)
    if source == "none":
        if overrides:
            log.warning("literature.source is 'none': identifier_frequency and term_frequency come from the fact table "
                        "only; facts it gives no count for are NA")
            return pd.DataFrame({"fact_id": facts["fact_id"], **{c: pd.NA for c in LITERATURE_COVARIATES}})
        log.warning(
            "literature.source is 'none': identifier_frequency and term_frequency are NA and the analysis drops them"
        )
        return pd.DataFrame({"fact_id": facts["fact_id"], **{c: pd.NA for c in LITERATURE_COVARIATES}})
    if source == "table":
        if not table:
            raise InputError("literature.table: required when literature.source is 'table'")
        return from_table(facts, table)
    if source == "corpus":
        files = corpus_files(corpus or [])
        log.info("counting mentions in %d file(s)", len(files))
        return count_in_corpus(facts, files)
    raise InputError(f"literature.source: unknown source {source!r}")
