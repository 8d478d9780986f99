"""Facts from a table the user supplies (``facts.source: table``) instead of a random draw.

Each table (CSV or TSV) names one fact per row: an identifier, optionally a label, a split and
covariates (``identifier_frequency``, ``term_frequency``, ``annotation_count``). Column names are
configurable. Every identifier is checked against the ontology release the workflow parsed:

- ``alt_id``: the identifier is an ``alt_id`` of another term; it is always mapped to that primary
  identifier (the report says so) — never an error;
- ``obsolete``: the term is obsolete in the release (the note names its ``replaced_by``);
- ``unknown``: the identifier is not in the release (or its prefix is no configured ontology's);
- ``label_differs``: the table's label is not the release's (compared with whitespace collapsed and
  case ignored).

Every such row is listed in the report (one row per table row and issue) and the log.
``on_mismatch`` decides what happens to rows with an ``obsolete``, ``unknown`` or ``label_differs``
issue: ``error`` stops with the list, ``drop`` removes them, ``keep`` keeps them as given (the
table's label is used; an unknown identifier needs a label in the table and gets NA structure
covariates).

Covariates in the table override the computed ones only where a cell is given: an empty cell keeps
the computed ``annotation_count`` (and the literature count of ``literature.source``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factsurv.data.ontology import leading_zeros
from factsurv.data.sampling import ontology_rng
from factsurv.io import InputError
from factsurv.tables import (
    FACT_COLUMNS,
    FACT_SPLITS,
    FACT_TABLE_REPORT_COLUMNS,
    LITERATURE_COLUMNS,
    LITERATURE_COVARIATES,
    TABLE_COVARIATES,
)

log = logging.getLogger("factsurv.data.fact_table")

ISSUES = ("alt_id", "obsolete", "unknown", "label_differs")
ON_MISMATCH = ("error", "drop", "keep")


@dataclass
class Release:
    """What the check needs of one ontology release: its term table, alt_ids and replaced_by."""

    terms: pd.DataFrame  # the term table of parse_terms (TERM_COLUMNS); indexed by term_id here
    alt_ids: dict[str, str] = field(default_factory=dict)
    replaced_by: dict[str, list[str]] = field(default_factory=dict)
    name: str | None = None  # the release (data-version), for the notes

    def __post_init__(self) -> None:
        if "term_id" in self.terms.columns:
            self.terms = self.terms.set_index("term_id")


def _delimiter(path: Path, delimiter: str | None) -> str:
    if delimiter:
        return delimiter
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".tsv", ".tab")):
        return "\t"
    if name.endswith(".csv"):
        return ","
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    return "\t" if "\t" in header else ","


def read_table(spec: Mapping[str, Any]) -> pd.DataFrame:
    """One fact table as strings: ``table, line, table_id, table_label, split`` and the covariates.

    ``line`` is the line in the file (the header is line 1). Errors name the file, column and line.
    """
    path = Path(str(spec["path"]))
    if not path.is_file():
        raise InputError(f"{path}: fact table not found (facts.tables)")
    sep = _delimiter(path, spec.get("delimiter"))
    try:
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file (expected a header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: could not read as a {'tab' if sep == chr(9) else repr(sep)}-separated table ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    raw["_line"] = np.arange(len(raw)) + 2
    raw = raw[~(raw.drop(columns="_line").apply(lambda c: c.str.strip()) == "").all(axis=1)]  # blank lines

    def column(key: str) -> str | None:
        name = spec.get(key)
        if name is None:
            return None
        if name not in raw.columns:
            raise InputError(f"{path}: no column {name!r} (facts.tables {key}); found {list(raw.columns[:-1])}")
        return str(name)

    id_col = column("id_column")
    assert id_col is not None  # the schema gives it a default
    out = pd.DataFrame({"table": str(path), "line": raw["_line"].to_numpy()})
    ids = raw[id_col].str.strip().to_numpy()
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise InputError(f"{path}, line {out['line'].iloc[empty[0]]}: empty identifier in column {id_col!r}")
    out["table_id"] = ids
    label_col = column("label_column")
    out["table_label"] = [" ".join(v.split()) for v in raw[label_col]] if label_col else ""

    rule = spec.get("split", "train")
    if rule == "column":
        split_col = column("split_column")
        if split_col is None:
            raise InputError(f"{path}: facts.tables split: column needs split_column")
        values = raw[split_col].str.strip().str.lower().to_numpy()
        bad = np.flatnonzero(~np.isin(values, FACT_SPLITS))
        if len(bad):
            raise InputError(
                f"{path}, line {out['line'].iloc[bad[0]]}: column {split_col!r} must be train or heldout, "
                f"got {raw[split_col].iloc[bad[0]]!r}"
            )
        out["split"] = values
    elif rule in FACT_SPLITS:
        out["split"] = rule
    elif rule == "random":
        out["split"] = ""  # drawn after the check, among the rows kept
    else:
        raise InputError(f"facts.tables split: unknown rule {rule!r} (train, heldout, random, column)")

    mapping = spec.get("covariates") or {}
    for cov in TABLE_COVARIATES:
        name = mapping.get(cov)
        if name is None:
            out[cov] = np.nan
            continue
        if name not in raw.columns:
            raise InputError(f"{path}: no column {name!r} (facts.tables covariates.{cov}); found {list(raw.columns[:-1])}")
        text = raw[name].str.strip().str.replace(",", "", regex=False)  # 1,234 → 1234
        num = pd.to_numeric(text.replace({"": None, "NA": None, "NaN": None}), errors="coerce")
        bad = np.flatnonzero(((num.isna() & ~text.isin(["", "NA", "NaN"])) | (num < 0)).to_numpy())
        if len(bad):
            raise InputError(
                f"{path}, line {out['line'].iloc[bad[0]]}: column {name!r} ({cov}) must be a non-negative "
                f"count or empty, got {raw[name].iloc[bad[0]]!r}"
            )
        out[cov] = num.to_numpy(dtype=float)
    return out.reset_index(drop=True)


def _norm(label: str) -> str:
    return " ".join(str(label).split()).casefold()


def check_rows(
    rows: pd.DataFrame,
    releases: Mapping[str, Release],
    prefixes: Mapping[str, str],
    *,
    ontology: str | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Resolve each row against its release: adds ``ontology, term_id, release_label, problem``.

    ``problem`` is True for rows with an obsolete, unknown or label_differs issue. Returns the rows
    and the issues (report rows without ``action``).
    """
    by_prefix = {p: o for o, p in prefixes.items()}
    issues: list[dict[str, Any]] = []
    ontos, term_ids, release_labels, problems = [], [], [], []
    for r in rows.itertuples(index=False):
        tid = str(r.table_id)
        prefix = re.split(r"[:_]", tid, maxsplit=1)[0] if re.search(r"[:_]", tid) else ""
        onto = ontology or by_prefix.get(prefix)
        base = {"table": r.table, "line": r.line, "table_id": tid, "ontology": onto or "", "table_label": r.table_label}
        rel = releases.get(onto) if onto else None
        primary, release_label, problem = tid, "", False
        if rel is None:
            why = (f"ontology {onto!r} is not configured" if onto else
                   f"prefix {prefix!r} is no configured ontology's ({', '.join(f'{p} → {o}' for o, p in sorted(prefixes.items()))})")
            issues.append({**base, "term_id": tid, "issue": "unknown", "release_label": "", "note": why})
            problem = True
        else:
            terms = rel.terms
            if tid not in terms.index and tid in rel.alt_ids:
                primary = rel.alt_ids[tid]
                issues.append({**base, "term_id": primary, "issue": "alt_id", "release_label": terms.at[primary, "label"] if primary in terms.index else "",
                               "note": f"alt_id of {primary} in release {rel.name}; mapped to {primary}"})
            if primary not in terms.index:
                hint = tid.replace("_", ":", 1)
                note = f"not in release {rel.name}" + (f"; did you mean {hint}?" if hint != tid and hint in terms.index else "")
                issues.append({**base, "term_id": primary, "issue": "unknown", "release_label": "", "note": note})
                problem = True
            else:
                release_label = str(terms.at[primary, "label"]) if pd.notna(terms.at[primary, "label"]) else ""
                if bool(terms.at[primary, "obsolete"]):
                    repl = rel.replaced_by.get(primary)
                    note = f"obsolete in release {rel.name}" + (f"; replaced_by {', '.join(repl)}" if repl else "")
                    issues.append({**base, "term_id": primary, "issue": "obsolete", "release_label": release_label, "note": note})
                    problem = True
                if r.table_label and _norm(r.table_label) != _norm(release_label):
                    issues.append({**base, "term_id": primary, "issue": "label_differs", "release_label": release_label,
                                   "note": f"the release calls {primary} {release_label!r}"})
                    problem = True
        ontos.append(onto or "")
        term_ids.append(primary)
        release_labels.append(release_label)
        problems.append(problem)
    out = rows.assign(ontology=ontos, term_id=term_ids, release_label=release_labels, problem=problems)
    return out, issues


def _line_ref(table: str, line: int) -> str:
    return f"{table}, line {line}"


def _describe(issue: Mapping[str, Any]) -> str:
    return f"{_line_ref(issue['table'], issue['line'])}: {issue['table_id']} {issue['issue']} ({issue['note']})"


def facts_from_tables(
    specs: Sequence[Mapping[str, Any]],
    releases: Mapping[str, Release],
    prefixes: Mapping[str, str],
    counts: Mapping[str, pd.DataFrame],
    *,
    on_mismatch: str,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The facts (FACT_COLUMNS), the literature overrides (``LITERATURE_COLUMNS``) and the report.

    ``releases`` maps an ontology key to its :class:`Release` (``terms`` indexed by ``term_id``),
    ``prefixes`` to its prefix, ``counts`` to its annotation-count table (computed).
    Raises :class:`InputError` when ``on_mismatch`` is ``error`` and a row has a problem (after
    logging the whole report).
    """
    if on_mismatch not in ON_MISMATCH:
        raise InputError(f"facts.on_mismatch: must be one of {list(ON_MISMATCH)}, not {on_mismatch!r}")
    checked, issues = [], []
    for i, spec in enumerate(specs):
        rows = read_table(spec)
        rows, found = check_rows(rows, releases, prefixes, ontology=spec.get("ontology"))
        rows["_table"] = i
        log.info("%s: %d rows, %d with a mismatch", spec["path"], len(rows), int(rows["problem"].sum()))
        checked.append(rows)
        issues += found
    rows = pd.concat(checked, ignore_index=True)
    for issue in issues:
        issue["action"] = "mapped" if issue["issue"] == "alt_id" else {"error": "error", "drop": "dropped", "keep": "kept"}[on_mismatch]
    report = pd.DataFrame(issues, columns=list(FACT_TABLE_REPORT_COLUMNS))
    for issue in issues:
        log.warning("%s → %s", _describe(issue), issue["action"])
    summary = report["issue"].value_counts().to_dict() if len(report) else {}
    log.info("fact tables: %d rows; issues %s; on_mismatch %s", len(rows), summary, on_mismatch)

    problems = [i for i in issues if i["issue"] != "alt_id"]
    if problems and on_mismatch == "error":
        shown = "\n  ".join(_describe(i) for i in problems[:20])
        more = f"\n  … and {len(problems) - 20} more (all in the log)" if len(problems) > 20 else ""
        raise InputError(
            f"facts.tables: {int(rows['problem'].sum())} row(s) do not match the ontology release "
            f"(facts.on_mismatch: error):\n  {shown}{more}\n"
            "Fix the table, or set facts.on_mismatch to drop (remove those rows) or keep (use them as given)."
        )
    if on_mismatch == "drop":
        rows = rows[~rows["problem"]]
    else:  # keep (or no problem at all)
        for r in rows[rows["problem"]].itertuples(index=False):
            if not r.ontology or r.ontology not in releases:
                raise InputError(f"{_line_ref(r.table, r.line)}: cannot keep {r.table_id}: no configured ontology has its prefix")
            if not r.table_label and not r.release_label:
                raise InputError(f"{_line_ref(r.table, r.line)}: cannot keep {r.table_id}: it is not in the release and the table gives no label")
    if rows.empty:
        raise InputError("facts.tables: no facts left" + (" after dropping the mismatches" if on_mismatch == "drop" else ""))

    key = rows["ontology"] + ":" + rows["term_id"]
    dup = key.duplicated(keep=False)
    if dup.any():
        first = rows[dup].sort_values(["ontology", "term_id"], kind="stable").head(2)
        where = " and ".join(_line_ref(t, ln) for t, ln in zip(first["table"], first["line"]))
        raise InputError(f"facts.tables: {first['term_id'].iloc[0]} ({first['ontology'].iloc[0]}) is listed twice: {where}"
                         " (an alt_id counts as its primary identifier)")

    rows = _random_splits(rows, specs, seed)
    facts = _fact_rows(rows, releases, counts)
    overrides = pd.DataFrame({"fact_id": facts["fact_id"], **{c: rows[c].to_numpy() for c in LITERATURE_COVARIATES}})
    return facts, overrides, report


def empty_table_outputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report (FACT_TABLE_REPORT_COLUMNS) and the literature overrides (LITERATURE_COLUMNS) of a
    fact source that reads no table: no rows. Every rule that can make facts.tsv writes both files
    (workflow/rules/common.smk, FACTS_OUTPUTS)."""
    return pd.DataFrame(columns=list(FACT_TABLE_REPORT_COLUMNS)), pd.DataFrame(columns=list(LITERATURE_COLUMNS))


def _random_splits(rows: pd.DataFrame, specs: Sequence[Mapping[str, Any]], seed: int) -> pd.DataFrame:
    rows = rows.copy()
    for i, spec in enumerate(specs):
        if spec.get("split", "train") != "random":
            continue
        mine = rows.index[rows["_table"] == i]
        heldout = int(spec.get("heldout") or 0)
        if heldout > len(mine):
            raise InputError(f"{spec['path']}: facts.tables heldout {heldout} is more than its {len(mine)} facts")
        ordered = rows.loc[mine].sort_values(["ontology", "term_id"], kind="stable").index
        order = ontology_rng(seed, f"table:{spec.get('ontology') or ''}").permutation(len(ordered))
        split = pd.Series("train", index=ordered)
        split.iloc[order[:heldout]] = "heldout"
        rows.loc[ordered, "split"] = split
    return rows


def _fact_rows(rows: pd.DataFrame, releases: Mapping[str, Release], counts: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = []
    for onto, grp in rows.groupby("ontology", sort=False):
        terms = releases[str(onto)].terms
        known = grp["term_id"].isin(terms.index)
        struct = terms.reindex(grp["term_id"])[["namespace", "depth", "n_descendants", "n_synonyms"]].reset_index(drop=True)
        f = grp.reset_index(drop=True)
        label = f["table_label"].where(f["table_label"] != "", f["release_label"])
        out = pd.DataFrame({
            "fact_id": onto + ":" + f["term_id"], "ontology": onto, "term_id": f["term_id"], "label": label,
            "split": f["split"], **{c: struct[c] for c in struct},
        })
        out["label_chars"] = out["label"].str.len()
        out["label_words"] = out["label"].str.split().str.len()
        out["leading_zeros"] = [leading_zeros(t) for t in out["term_id"]]
        c = counts.get(str(onto))
        if c is not None:
            merged = out[["term_id"]].merge(c, on="term_id", how="left")
            computed = merged["annotation_count"].where(known.to_numpy(), np.nan).to_numpy(dtype=float)
            direct = merged["annotation_count_direct"].where(known.to_numpy(), np.nan).to_numpy(dtype=float)
            computed = np.where(np.isnan(computed) & known.to_numpy(), 0.0, computed)
            direct = np.where(np.isnan(direct) & known.to_numpy(), 0.0, direct)
        else:
            computed = direct = np.full(len(out), np.nan)
        given = f["annotation_count"].to_numpy(dtype=float)
        out["annotation_count"] = np.where(np.isnan(given), computed, given)
        out["annotation_count_direct"] = direct
        n_given = int((~np.isnan(given)).sum())
        if n_given:
            log.info("%s: annotation_count from the table for %d of %d facts, computed for the rest", onto, n_given, len(out))
        if np.isnan(out["annotation_count"].to_numpy(dtype=float)).any():
            log.warning("%s: %d facts have no annotation_count (NA)", onto, int(np.isnan(out["annotation_count"].to_numpy(dtype=float)).sum()))
        out.index = grp.index
        frames.append(out)
    facts = pd.concat(frames).loc[rows.index].reset_index(drop=True)
    for col in ("depth", "n_descendants", "n_synonyms", "label_words", "annotation_count", "annotation_count_direct"):
        facts[col] = _integral(facts[col])
    label_key = facts["ontology"] + "\t" + facts["label"].str.strip().str.casefold()
    dup_labels = label_key.duplicated(keep=False)
    if dup_labels.any():
        log.warning("%d facts share a label with another fact of their ontology (the question is ambiguous): %s",
                    int(dup_labels.sum()), sorted(facts.loc[dup_labels, "label"].unique())[:10])
    return facts[list(FACT_COLUMNS)]


def _integral(values: pd.Series) -> pd.Series:
    """Whole numbers as a nullable integer column (NA stays NA); anything else unchanged."""
    num = pd.to_numeric(values, errors="coerce")
    given = num.dropna()
    if (given == given.round()).all():
        return num.round().astype("Int64")
    return num
