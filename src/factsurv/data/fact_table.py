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

Before that, each row is checked in itself and against the config (:func:`content_problems`;
the pre-flight runs the same function while the workflow is planned, so these stop before any job):

- ``malformed``: the identifier is not ``PREFIX:LOCAL`` (``HP_0001250``, ``HP 0001250``, a URL);
- ``wrong_prefix``: its prefix is not its table's ontology's, or no configured ontology's;
- ``duplicate``: the identifier of an earlier row (of any table) again;
- ``blank_label``: the table has a label column and this row's label is empty.

Every such row is listed in the report (one row per table row and issue) and the log.
``on_mismatch`` decides what happens to rows with an ``obsolete``, ``unknown`` or ``label_differs``
issue: ``error`` stops with the list, ``drop`` removes them, ``keep`` keeps them as given (the
table's label is used; an unknown identifier needs a label in the table and gets NA structure
covariates). A row with a content problem cannot be kept as given: it stops the workflow unless
``on_mismatch`` is ``drop``, which removes it. Dropped rows are counted per table and reason
(:func:`drop_counts`, ``results/facts/facts_table_drops.tsv``, shown in the report).
A covariate column that has no value in any row is an error whatever ``on_mismatch`` says.

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
    FACT_TABLE_DROP_COLUMNS,
    FACT_TABLE_REPORT_COLUMNS,
    LITERATURE_COLUMNS,
    LITERATURE_COVARIATES,
    TABLE_COVARIATES,
)

log = logging.getLogger("factsurv.data.fact_table")

#: problems a row has in itself or against the config (checked before the release is known)
CONTENT_ISSUES = ("malformed", "wrong_prefix", "duplicate", "blank_label")
ISSUES = ("alt_id", "obsolete", "unknown", "label_differs", *CONTENT_ISSUES)
ON_MISMATCH = ("error", "drop", "keep")
#: an identifier: PREFIX:LOCAL (the schema's prefixes are letters; the local part has no blanks)
ID_SYNTAX = re.compile(r"^([A-Za-z]+):([A-Za-z0-9][A-Za-z0-9_.\-]*)$")
#: how many row numbers a message lists before "and N more"
SHOWN_LINES = 5

_CONTENT_WHAT = {
    "malformed": "have an identifier that is not PREFIX:LOCAL",
    "wrong_prefix": "have an identifier of another ontology or of no configured one",
    "duplicate": "repeat the identifier of an earlier row",
    "blank_label": "have an empty label",
}


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


def lines_text(lines: Sequence[Any], n: int = SHOWN_LINES) -> str:
    """``line 3`` or ``lines 3, 5, 9 and 2 more``: the first few row numbers of a problem."""
    lines = list(lines)
    head = ", ".join(str(v) for v in lines[:n])
    more = f" and {len(lines) - n} more" if len(lines) > n else ""
    return f"line{'s' if len(lines) > 1 else ''} {head}{more}"


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
        raise InputError(f"{path}, {lines_text(out['line'].iloc[empty])}: empty identifier in column {id_col!r}")
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
                f"{path}, {lines_text(out['line'].iloc[bad])}: column {split_col!r} must be train or heldout, "
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
                f"{path}, {lines_text(out['line'].iloc[bad])}: column {name!r} ({cov}) must be a non-negative "
                f"count or empty, got {raw[name].iloc[bad[0]]!r}"
            )
        if len(num) and num.isna().all():
            raise InputError(
                f"{path}: column {name!r} (facts.tables covariates.{cov}) has no value in any of its {len(num)} "
                f"rows: map covariates.{cov} to a column that holds counts, or leave it out (then it is computed)"
            )
        out[cov] = num.to_numpy(dtype=float)
    return out.reset_index(drop=True)


def _suggest(tid: str, prefixes: Mapping[str, str]) -> str:
    """``; did you mean HP:0001250?`` for an identifier written another way (HP_0001250, hp:0001250,
    a PURL), else ""."""
    by_upper = {p.upper(): p for p in prefixes.values()}
    m = re.search(r"([A-Za-z]+)\s*[:_ ]\s*([A-Za-z0-9]+)\s*$", tid)
    if m and m.group(1).upper() in by_upper:
        guess = f"{by_upper[m.group(1).upper()]}:{m.group(2)}"
        if guess != tid:
            return f"; did you mean {guess}?"
    return ""


def content_problems(
    tables: Sequence[tuple[Mapping[str, Any], pd.DataFrame]], prefixes: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The rows of the tables (spec, rows of :func:`read_table`) that are wrong in themselves or
    against the config, whatever the ontology release says: one problem per row (the first of
    ``CONTENT_ISSUES`` that applies), as report rows (``FACT_TABLE_REPORT_COLUMNS`` and ``column``).

    ``prefixes`` maps every configured ontology to its prefix. A ``duplicate`` is a row whose
    (ontology, identifier) an earlier row of any table has; the first one is not a problem.
    """
    by_prefix = {p: o for o, p in prefixes.items()}
    known = ", ".join(f"{p} → {o}" for o, p in sorted(prefixes.items()))
    seen: dict[tuple[str, str], str] = {}
    out: list[dict[str, Any]] = []
    for spec, rows in tables:
        onto_of_table = spec.get("ontology")
        id_col, label_col = str(spec.get("id_column")), spec.get("label_column")
        for r in rows.itertuples(index=False):
            tid = str(r.table_id)
            m = ID_SYNTAX.match(tid)
            prefix = m.group(1) if m else ""
            onto = onto_of_table or by_prefix.get(prefix, "")
            base = {"table": r.table, "line": r.line, "table_id": tid, "ontology": onto, "term_id": tid,
                    "table_label": r.table_label, "release_label": "", "column": id_col}
            issue, note = None, ""
            if m is None:
                issue, note = "malformed", f"not PREFIX:LOCAL{_suggest(tid, prefixes)}"
            elif onto_of_table and prefix != prefixes.get(onto_of_table):
                other = f"a {by_prefix[prefix]} identifier" if prefix in by_prefix else f"prefix {prefix!r}"
                issue = "wrong_prefix"
                note = (f"{other}, but the table's ontology is {onto_of_table} (prefix "
                        f"{prefixes.get(onto_of_table)}){_suggest(tid, {onto_of_table: prefixes.get(onto_of_table, '')})}")
            elif not onto_of_table and prefix not in by_prefix:
                issue, note = "wrong_prefix", f"prefix {prefix!r} is no configured ontology's ({known}){_suggest(tid, prefixes)}"
            elif (onto, tid) in seen:
                issue, note = "duplicate", f"the identifier of {seen[(onto, tid)]} again"
            elif label_col and not r.table_label:
                issue, note, base["column"] = "blank_label", f"empty label (column {label_col!r})", label_col
            if issue is None or issue == "blank_label":
                seen.setdefault((onto, tid), f"{r.table}, line {r.line}")
            if issue is not None:
                out.append({**base, "issue": issue, "note": note})
    return out


def content_errors(problems: Sequence[Mapping[str, Any]], on_mismatch: str) -> list[str]:
    """One message per table and issue: the file, the first row numbers and the column, with the
    way out (only ``on_mismatch: drop`` drops such rows)."""
    out = []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for p in problems:
        groups.setdefault((p["table"], p["issue"]), []).append(p)
    for (table, issue), rows in groups.items():
        shown = "; ".join(f"{p['table_id']!r} ({p['note']})" for p in rows[:SHOWN_LINES])
        keep = (" (on_mismatch: keep keeps rows that disagree with the release, not these)"
                if on_mismatch == "keep" else "")
        out.append(
            f"{table}, {lines_text([p['line'] for p in rows])}, column {rows[0]['column']!r}: {len(rows)} row(s) "
            f"{_CONTENT_WHAT[issue]} ({issue}): {shown}{'; …' if len(rows) > SHOWN_LINES else ''}. Fix the table, "
            f"or set facts.on_mismatch: drop to drop these rows (counted in results/facts/facts_table_drops.tsv){keep}"
        )
    return out


def drop_counts(report: pd.DataFrame) -> pd.DataFrame:
    """The rows dropped, per table and reason (``FACT_TABLE_DROP_COLUMNS``): from the report's rows
    with action ``dropped``; a row is counted once, under its first reason."""
    dropped = report[report["action"] == "dropped"].drop_duplicates(["table", "line"])
    rows = [
        {"table": table, "issue": issue, "rows": len(grp), "lines": lines_text(grp["line"].tolist(), 20)}
        for (table, issue), grp in dropped.groupby(["table", "issue"], sort=False)
    ]
    return pd.DataFrame(rows, columns=list(FACT_TABLE_DROP_COLUMNS))


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
    tables = [(spec, read_table(spec)) for spec in specs]
    content = content_problems(tables, prefixes)
    if content and on_mismatch != "drop":  # the pre-flight stops these before any job
        raise InputError("facts.tables:\n  " + "\n  ".join(content_errors(content, on_mismatch)))
    broken = {(p["table"], p["line"]) for p in content}
    checked, issues = [], [{**p, "action": "dropped"} for p in content]
    for i, (spec, rows) in enumerate(tables):
        rows = rows[[(t, ln) not in broken for t, ln in zip(rows["table"], rows["line"])]]
        rows, found = check_rows(rows, releases, prefixes, ontology=spec.get("ontology"))
        rows["_table"] = i
        log.info("%s: %d rows, %d with a mismatch", spec["path"], len(rows), int(rows["problem"].sum()))
        checked.append(rows)
        for issue in found:
            issue["action"] = "mapped" if issue["issue"] == "alt_id" else {"error": "error", "drop": "dropped", "keep": "kept"}[on_mismatch]
        issues += found
    rows = pd.concat(checked, ignore_index=True)
    if on_mismatch == "drop":  # the same term twice once alt_ids are mapped: the later rows go
        ok = ~rows["problem"].to_numpy(dtype=bool)
        key = (rows["ontology"] + ":" + rows["term_id"]).where(ok, None)
        again = (key.duplicated(keep="first") & key.notna()).to_numpy()
        first: dict[str, str] = {}
        for r, k, repeat in zip(rows.itertuples(index=False), key, again):
            if k is not None and not repeat:
                first.setdefault(k, f"{r.table}, line {r.line}")
            elif repeat:
                issues.append({"table": r.table, "line": r.line, "table_id": r.table_id, "ontology": r.ontology,
                               "term_id": r.term_id, "issue": "duplicate", "table_label": r.table_label,
                               "release_label": r.release_label, "action": "dropped",
                               "note": f"the term of {first[k]} again (an alt_id counts as its primary identifier)"})
        rows = rows[~again]
    order = {str(spec["path"]): i for i, spec in enumerate(specs)}
    issues.sort(key=lambda x: (order.get(str(x["table"]), len(order)), x["line"]))
    report = pd.DataFrame(issues, columns=list(FACT_TABLE_REPORT_COLUMNS))
    for issue in issues:
        log.warning("%s → %s", _describe(issue), issue["action"])
    summary = report["issue"].value_counts().to_dict() if len(report) else {}
    log.info("fact tables: %d rows; issues %s; on_mismatch %s", len(rows), summary, on_mismatch)
    for d in drop_counts(report).itertuples(index=False):
        log.warning("%s: dropped %d row(s) (%s): %s", d.table, d.rows, d.issue, d.lines)

    problems = [i for i in issues if i["issue"] not in ("alt_id", *CONTENT_ISSUES)]
    if problems and on_mismatch == "error":
        shown = "\n  ".join(_describe(i) for i in problems[:20])
        more = f"\n  … and {len(problems) - 20} more (all in the log)" if len(problems) > 20 else ""
        raise InputError(
            f"facts.tables: {int(rows['problem'].sum())} row(s) do not match the ontology release "
            f"(facts.on_mismatch: error):\n  {shown}{more}\n"
            "Fix the table, or set facts.on_mismatch to drop (remove those rows) or keep (use them as given)."
        )
    if on_mismatch == "drop":
        rows = rows[~rows["problem"].to_numpy(dtype=bool)]
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
