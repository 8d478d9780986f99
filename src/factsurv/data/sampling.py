"""Sampling the facts (term → identifier pairs) that the model is trained and evaluated on.

Eligible terms: not obsolete, with a non-empty label, whose identifier has the ontology's prefix and,
when ``namespace`` is set, that namespace. Labels shared by several eligible terms of the same
ontology (compared case-insensitively) make the question ambiguous: ``duplicate_labels: drop``
removes all of them (the default), ``first`` keeps the term with the lowest identifier.

For each ontology ``train + heldout`` terms are drawn without replacement with a generator seeded
by ``(seed, ontology)``; the first ``train`` of the random order are trained, the rest withheld.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from factsurv.io import InputError
from factsurv.tables import FACT_COLUMNS

log = logging.getLogger("factsurv.data.sampling")


def eligible_terms(
    terms: pd.DataFrame, *, prefix: str, namespace: str | None, duplicate_labels: str = "drop"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Filter ``terms`` to those a fact can be made of; also return how many each rule removed."""
    removed: dict[str, int] = {}
    t = terms
    keep = ~t["obsolete"].astype(bool)
    removed["obsolete"] = int((~keep).sum())
    t = t[keep]
    labels = t["label"].fillna("").astype(str).str.strip()
    keep = labels != ""
    removed["unlabelled"] = int((~keep).sum())
    t = t[keep]
    keep = t["term_id"].astype(str).str.startswith(prefix + ":")
    removed["other_prefix"] = int((~keep).sum())
    t = t[keep]
    if namespace is not None:
        keep = t["namespace"] == namespace
        removed["other_namespace"] = int((~keep).sum())
        t = t[keep]
    key = t["label"].str.strip().str.casefold()
    dup = key.duplicated(keep=False)
    if duplicate_labels == "drop":
        removed["duplicate_label"] = int(dup.sum())
        t = t[~dup]
    elif duplicate_labels == "first":
        t = t.assign(_key=key).sort_values("term_id", kind="stable")
        first = ~t["_key"].duplicated(keep="first")
        removed["duplicate_label"] = int((~first).sum())
        t = t[first].drop(columns="_key")
    else:
        raise ValueError(f"duplicate_labels must be 'drop' or 'first', not {duplicate_labels!r}")
    return t.sort_values("term_id", kind="stable").reset_index(drop=True), removed


def ontology_rng(seed: int, ontology: str) -> np.random.Generator:
    """A generator that depends on the seed and the ontology's name only (not on dict order)."""
    return np.random.default_rng([int(seed), zlib.crc32(ontology.encode("utf-8"))])


def sample_ontology(
    eligible: pd.DataFrame, *, ontology: str, train: int, heldout: int, seed: int, criteria: str = ""
) -> pd.DataFrame:
    """Draw ``train + heldout`` terms of one ontology; raise naming both numbers if too few."""
    wanted = train + heldout
    if wanted > len(eligible):
        raise InputError(
            f"sample.counts.{ontology}: asks for {wanted} facts (train {train} + heldout {heldout}) but only "
            f"{len(eligible)} terms of ontology {ontology!r} are eligible{criteria}"
        )
    order = ontology_rng(seed, ontology).permutation(len(eligible))[:wanted]
    chosen = eligible.iloc[order].copy()
    chosen["split"] = ["train"] * train + ["heldout"] * heldout
    chosen["ontology"] = ontology
    chosen["fact_id"] = ontology + ":" + chosen["term_id"].astype(str)
    return chosen


def sample_facts(
    terms: Mapping[str, pd.DataFrame],
    counts: Mapping[str, pd.DataFrame],
    specs: Mapping[str, Mapping[str, object]],
    requested: Mapping[str, Mapping[str, int]],
    *,
    seed: int,
    duplicate_labels: str = "drop",
) -> pd.DataFrame:
    """All facts, one row each (FACT_COLUMNS), ordered by ontology then the random draw.

    ``terms`` and ``counts`` map an ontology key to its term table and annotation-count table;
    ``specs`` to its config (``prefix``, ``namespace``); ``requested`` to ``{train, heldout}``.
    """
    frames = []
    for onto in sorted(requested):
        want = requested[onto]
        train, heldout = int(want.get("train", 0)), int(want.get("heldout", 0))
        if train + heldout == 0:
            continue
        spec = specs[onto]
        elig, removed = eligible_terms(
            terms[onto], prefix=str(spec["prefix"]), namespace=spec.get("namespace"),  # type: ignore[arg-type]
            duplicate_labels=duplicate_labels,
        )
        log.info("%s: %d eligible terms; removed %s", onto, len(elig), removed)
        ns = f", namespace {spec.get('namespace')}" if spec.get("namespace") else ""
        criteria = f" (non-obsolete, labelled, prefix {spec['prefix']}{ns}, duplicate labels: {duplicate_labels})"
        chosen = sample_ontology(elig, ontology=onto, train=train, heldout=heldout, seed=seed, criteria=criteria)
        if onto in counts:
            chosen = chosen.merge(counts[onto], on="term_id", how="left")
            chosen[["annotation_count", "annotation_count_direct"]] = (
                chosen[["annotation_count", "annotation_count_direct"]].fillna(0).astype(int)
            )
        else:
            log.warning("%s: no annotation counts; annotation_count is NA and will be dropped from the models", onto)
            chosen["annotation_count"] = pd.NA
            chosen["annotation_count_direct"] = pd.NA
        frames.append(chosen)
    if not frames:
        raise InputError("sample.counts: no facts requested")
    return pd.concat(frames, ignore_index=True)[list(FACT_COLUMNS)]
