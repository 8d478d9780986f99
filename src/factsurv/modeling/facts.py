"""The facts a model is asked about: reading results/facts/facts.tsv (the columns the model stage
needs, :data:`factsurv.tables.MODEL_FACT_COLUMNS`) and its training split.

Rendering, encoding and answer matching live in :mod:`factsurv.prompts`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import pandas as pd

from factsurv.io import InputError, read_tsv
from factsurv.tables import MODEL_FACT_COLUMNS


def read_facts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """facts.tsv with the columns the model stage needs (fact_id unique)."""
    df = read_tsv(path, MODEL_FACT_COLUMNS, dtype={"fact_id": str, "term_id": str, "label": str})
    dup = df["fact_id"][df["fact_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: duplicate fact_id(s) {sorted(set(dup))[:5]}")
    return df


def train_facts(facts: pd.DataFrame, source: str = "facts.tsv") -> pd.DataFrame:
    """The trained facts (split == train); an empty training split is an error."""
    train = facts[facts["split"] == "train"].reset_index(drop=True)
    if train.empty:
        raise InputError(
            f"{source}: the training split is empty (no row with split == 'train' among "
            f"{len(facts)} facts); set sample.counts.<onto>.train > 0"
        )
    return train


def require_fact_columns(facts: pd.DataFrame, columns: Iterable[str], ontology_names: Mapping[str, str]) -> None:
    """ValueError unless ``facts`` has ``columns`` and every ontology of it has a name (what a
    corpus of statements about the facts needs: the demo corpus, the exposure corpus)."""
    missing = [c for c in columns if c not in facts]
    if missing:
        raise ValueError(f"facts table lacks column(s) {missing}")
    unknown = sorted(set(facts["ontology"]) - set(ontology_names))
    if unknown:
        raise ValueError(f"no ontology name for {unknown}")
