"""Parsing an OBO ontology with pronto into a tidy term table.

One row per term: ``term_id, label, namespace, obsolete, depth, n_descendants, n_synonyms,
label_chars, label_words, leading_zeros``.

- ``depth``: length of the shortest ``is_a`` path from a root (a term with no ``is_a`` parent).
- ``n_descendants``: number of distinct terms below it along ``is_a`` (transitively).
- ``leading_zeros``: zeros between the prefix and the first non-zero digit (``HP:0001250`` → 3).
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from factsurv.io import InputError
from factsurv.tables import EDGE_COLUMNS, TERM_COLUMNS

log = logging.getLogger("factsurv.data.ontology")


@dataclass
class OntologyGraph:
    """The parts of an ontology the workflow needs, as plain dicts (fast to traverse)."""

    terms: pd.DataFrame  # term_id, label, namespace, obsolete, n_synonyms
    parents: dict[str, list[str]] = field(default_factory=dict)  # is_a parents
    part_of: dict[str, list[str]] = field(default_factory=dict)  # part_of targets
    release: str | None = None
    default_namespace: str | None = None
    alt_ids: dict[str, str] = field(default_factory=dict)  # alt_id → primary id (OBO ``alt_id``)
    replaced_by: dict[str, list[str]] = field(default_factory=dict)  # obsolete id → ``replaced_by`` ids


def load_obo(path: str | Path) -> OntologyGraph:
    """Parse ``path`` with pronto. A malformed file raises :class:`InputError` naming file and line."""
    import pronto  # heavy import, only where needed

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ontology file not found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ont = pronto.Ontology(str(path), encoding="utf-8")
        except SyntaxError as exc:
            line = exc.lineno if exc.lineno is not None else "?"
            text = (exc.text or "").strip()
            raise InputError(f"{path}, line {line}: malformed OBO ({exc.msg}): {text!r}") from None
        except KeyError as exc:  # pronto: a reference to a term that is not defined
            raise InputError(_dangling_reference(path, str(exc.args[0]) if exc.args else "?")) from None
        except Exception as exc:  # pronto/fastobo raise various errors on bad input
            raise InputError(f"{path}: could not parse as OBO ({type(exc).__name__}: {exc})") from None
        except BaseException as exc:
            # fastobo's Rust parser panics on some malformed files (e.g. a stray `!` comment line);
            # the panic is a BaseException: turn it into the same clear error, let the rest through
            if type(exc).__name__ != "PanicException":
                raise
            raise InputError(f"{path}: could not parse as OBO (the parser gave up: {str(exc)[:200]})") from None
    for w in caught:
        log.warning("pronto: %s", w.message)
    default_ns = ont.metadata.default_namespace
    part_of_rel = None
    try:
        part_of_rel = ont.get_relationship("part_of")
    except KeyError:
        part_of_rel = None

    rows = []
    parents: dict[str, list[str]] = {}
    part_of: dict[str, list[str]] = {}
    alt_ids: dict[str, str] = {}
    replaced_by: dict[str, list[str]] = {}
    for term in ont.terms():
        tid = term.id
        for alt in sorted(term.alternate_ids):
            if alt in alt_ids and alt_ids[alt] != tid:
                log.warning("%s: alt_id %s is declared by %s and %s; keeping %s", path, alt, alt_ids[alt], tid, alt_ids[alt])
                continue
            alt_ids[alt] = tid
        if term.obsolete and term.replaced_by:
            replaced_by[tid] = sorted(t.id for t in term.replaced_by)
        ns = term.namespace or default_ns
        rows.append(
            {
                "term_id": tid,
                "label": (term.name or "").strip(),
                "namespace": ns,
                "obsolete": bool(term.obsolete),
                "n_synonyms": len(term.synonyms),
            }
        )
        parents[tid] = sorted(p.id for p in term.superclasses(distance=1, with_self=False))
        if part_of_rel is not None:
            targets = term.relationships.get(part_of_rel, ())
            if targets:
                part_of[tid] = sorted(t.id for t in targets)
    if not rows:
        raise InputError(f"{path}: no [Term] stanzas found")
    terms = pd.DataFrame(rows)
    return OntologyGraph(
        terms=terms,
        parents=parents,
        part_of=part_of,
        release=ont.metadata.data_version,
        default_namespace=default_ns,
        alt_ids=alt_ids,
        replaced_by=replaced_by,
    )


def _dangling_reference(path: Path, target: str) -> str:
    """The message for a reference (is_a, relationship, ...) to a term the file does not define."""
    where = ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if target in line and not line.startswith("id:"):
                where = f", line {lineno}: {line.strip()[:120]!r}"
                break
    return (
        f"{path}{where}: refers to {target}, which the file does not define "
        "(a dangling is_a or relationship: a truncated or filtered OBO file?)"
    )


def depths(parents: dict[str, list[str]], term_ids: Iterable[str]) -> dict[str, int]:
    """Shortest is_a distance from any root (terms without parents have depth 0)."""
    ids = list(term_ids)
    children: dict[str, list[str]] = {t: [] for t in ids}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(child)
    depth: dict[str, int] = {}
    queue: deque[str] = deque()
    for t in ids:
        if not parents.get(t):
            depth[t] = 0
            queue.append(t)
    while queue:
        t = queue.popleft()
        for c in children.get(t, ()):
            if c not in depth:
                depth[c] = depth[t] + 1
                queue.append(c)
    return depth


def ancestors_map(edges: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    """Transitive closure of ``edges`` (child → parents), excluding the term itself."""
    memo: dict[str, frozenset[str]] = {}

    def visit(t: str, stack: set[str]) -> frozenset[str]:
        if t in memo:
            return memo[t]
        if t in stack:  # a cycle: stop here rather than recurse forever
            return frozenset()
        stack.add(t)
        acc: set[str] = set()
        for p in edges.get(t, ()):
            acc.add(p)
            acc |= visit(p, stack)
        stack.discard(t)
        memo[t] = frozenset(acc)
        return memo[t]

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        for t in list(edges):
            visit(t, set())
    finally:
        sys.setrecursionlimit(old)
    return memo


def descendant_counts(parents: dict[str, list[str]], term_ids: Iterable[str]) -> dict[str, int]:
    """Number of distinct is_a descendants of each term."""
    counts = {t: 0 for t in term_ids}
    for anc in ancestors_map(parents).values():
        for a in anc:
            counts[a] = counts.get(a, 0) + 1
    return counts


def leading_zeros(term_id: str) -> int:
    """Zeros after the prefix before the first non-zero digit: ``HP:0001250`` → 3."""
    local = term_id.split(":", 1)[-1]
    return len(local) - len(local.lstrip("0"))


def term_table(graph: OntologyGraph) -> pd.DataFrame:
    """The tidy term table (TERM_COLUMNS) of a parsed ontology."""
    t = graph.terms.copy()
    ids = t["term_id"].tolist()
    d = depths(graph.parents, ids)
    n_desc = descendant_counts(graph.parents, ids)
    t["depth"] = [d.get(i, -1) for i in ids]
    t["n_descendants"] = [n_desc.get(i, 0) for i in ids]
    t["label_chars"] = t["label"].str.len()
    t["label_words"] = t["label"].str.split().str.len().fillna(0).astype(int)
    t["leading_zeros"] = [leading_zeros(i) for i in ids]
    return t[list(TERM_COLUMNS)].sort_values("term_id", kind="stable").reset_index(drop=True)


def edge_table(graph: OntologyGraph) -> pd.DataFrame:
    """The is_a and part_of edges as a tidy table (``term_id, relation, target_id``)."""
    rows = [(t, "is_a", p) for t, ps in graph.parents.items() for p in ps]
    rows += [(t, "part_of", p) for t, ps in graph.part_of.items() for p in ps]
    return pd.DataFrame(rows, columns=list(EDGE_COLUMNS)).sort_values(list(EDGE_COLUMNS), kind="stable")


def edges_from_table(edges: pd.DataFrame, relations: Iterable[str]) -> dict[str, list[str]]:
    """term → targets along the given relations, from an :func:`edge_table`."""
    keep = edges[edges["relation"].isin(list(relations))]
    out: dict[str, list[str]] = {}
    for t, target in zip(keep["term_id"], keep["target_id"]):
        out.setdefault(t, []).append(target)
    return out


def parse_terms(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, OntologyGraph]:
    """Term table, edge table and the parsed graph of an OBO file."""
    graph = load_obo(path)
    return term_table(graph), edge_table(graph), graph
