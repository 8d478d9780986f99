"""Fact sampling: eligibility, duplicate labels, determinism per seed, counts, and too few terms."""

from __future__ import annotations

import pandas as pd
import pytest

from factsurv.data.sampling import eligible_terms, sample_facts
from factsurv.tables import FACT_COLUMNS
from factsurv.io import InputError


def make_terms(n: int, prefix: str = "HP", namespace: str = "human_phenotype") -> pd.DataFrame:
    rows = []
    for i in range(1, n + 1):
        rows.append(
            {"term_id": f"{prefix}:{i:07d}", "label": f"term {i}", "namespace": namespace, "obsolete": i % 10 == 0,
             "depth": i % 5, "n_descendants": i % 3, "n_synonyms": 0, "label_chars": 6, "label_words": 2, "leading_zeros": 4}
        )
    return pd.DataFrame(rows)


SPECS = {"hpo": {"prefix": "HP", "namespace": None}, "go": {"prefix": "GO", "namespace": "cellular_component"}}


def terms_and_counts():
    go = pd.concat([make_terms(60, "GO", "cellular_component"), make_terms(40, "GO", "biological_process").assign(
        term_id=lambda d: d["term_id"].str.replace(":00", ":10"))])
    terms = {"hpo": make_terms(100), "go": go}
    counts = {o: pd.DataFrame({"term_id": t["term_id"], "annotation_count_direct": 1, "annotation_count": 2}) for o, t in terms.items()}
    return terms, counts


def draw(seed, requested=None):
    terms, counts = terms_and_counts()
    requested = requested or {"hpo": {"train": 20, "heldout": 0}, "go": {"train": 10, "heldout": 10}}
    return sample_facts(terms, counts, SPECS, requested, seed=seed)


def test_counts_columns_and_eligibility():
    facts = draw(1)
    assert tuple(facts.columns) == FACT_COLUMNS
    assert facts.groupby(["ontology", "split"]).size().to_dict() == {("go", "heldout"): 10, ("go", "train"): 10, ("hpo", "train"): 20}
    assert facts["fact_id"].is_unique
    assert (facts["fact_id"] == facts["ontology"] + ":" + facts["term_id"]).all()
    go = facts[facts["ontology"] == "go"]
    assert (go["namespace"] == "cellular_component").all()
    ids = set(facts["term_id"])
    obsolete = {f"HP:{i:07d}" for i in range(10, 101, 10)}
    assert not ids & obsolete


def test_deterministic_per_seed_and_different_across_seeds():
    a, b, c = draw(5), draw(5), draw(6)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["term_id"]) != set(c["term_id"])


def test_sampling_one_ontology_does_not_depend_on_the_others():
    both = draw(5)
    hpo_only = draw(5, {"hpo": {"train": 20, "heldout": 0}})
    assert list(both.loc[both["ontology"] == "hpo", "term_id"]) == list(hpo_only["term_id"])


def test_too_few_eligible_terms_gives_both_numbers():
    with pytest.raises(InputError, match=r"sample\.counts\.go: asks for 70 facts \(train 40 \+ heldout 30\) but only 54 terms"):
        draw(1, {"go": {"train": 40, "heldout": 30}})


def test_duplicate_labels_drop_or_first():
    t = make_terms(6)
    t.loc[1, "label"] = "Same"
    t.loc[3, "label"] = "same "
    dropped, removed = eligible_terms(t, prefix="HP", namespace=None, duplicate_labels="drop")
    assert removed["duplicate_label"] == 2 and "HP:0000002" not in set(dropped["term_id"])
    first, removed = eligible_terms(t, prefix="HP", namespace=None, duplicate_labels="first")
    assert removed["duplicate_label"] == 1
    assert "HP:0000002" in set(first["term_id"]) and "HP:0000004" not in set(first["term_id"])


def test_unlabelled_and_foreign_prefix_terms_are_not_eligible():
    t = make_terms(5)
    t.loc[0, "label"] = ""
    t.loc[1, "term_id"] = "UPHENO:0000002"
    elig, removed = eligible_terms(t, prefix="HP", namespace=None)
    assert removed["unlabelled"] == 1 and removed["other_prefix"] == 1 and len(elig) == 3
