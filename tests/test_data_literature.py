"""Literature frequencies: counted in a local corpus, read from a table, or absent."""

from __future__ import annotations

import gzip
import logging

import pandas as pd
import pytest

from factsurv.data.literature import literature_counts
from factsurv.io import InputError

FACTS = pd.DataFrame(
    {"fact_id": ["hpo:HP:0001250", "hpo:HP:0002069", "go:GO:0005634"],
     "term_id": ["HP:0001250", "HP:0002069", "GO:0005634"],
     "label": ["Seizure", "Bilateral tonic-clonic seizure", "nucleus"]}
)


def test_counts_in_a_corpus_folder(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text(
        "Seizure (HP:0001250) is common. A bilateral tonic-clonic seizure is HP:0002069.\n"
        "Seizures are not counted as Seizure; HP:00012501 is no identifier; xHP:0001250 neither.\n"
    )
    with gzip.open(tmp_path / "c" / "b.txt.gz", "wt") as fh:
        fh.write("The NUCLEUS, GO:0005634, and the nucleus again. HP:0001250\n")
    out = literature_counts(FACTS, "corpus", corpus=[str(tmp_path / "c")]).set_index("fact_id")
    assert out.loc["hpo:HP:0001250", "identifier_frequency"] == 2
    assert out.loc["hpo:HP:0001250", "term_frequency"] == 3  # incl. inside the longer label
    assert out.loc["hpo:HP:0002069", "term_frequency"] == 1
    assert out.loc["go:GO:0005634", ["identifier_frequency", "term_frequency"]].tolist() == [1, 2]


def test_missing_corpus_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        literature_counts(FACTS, "corpus", corpus=[str(tmp_path / "nowhere")])


def test_table_source_and_bad_table(tmp_path):
    good = tmp_path / "t.tsv"
    good.write_text("term_id\tidentifier_frequency\tterm_frequency\nHP:0001250\t12\t300\nGO:0005634\t4\t9000\n")
    out = literature_counts(FACTS, "table", table=str(good)).set_index("fact_id")
    assert out.loc["hpo:HP:0001250", "identifier_frequency"] == 12
    assert pd.isna(out.loc["hpo:HP:0002069", "term_frequency"])
    bad = tmp_path / "bad.tsv"
    bad.write_text("term_id\tidentifier_frequency\tterm_frequency\nHP:0001250\tmany\t3\n")
    with pytest.raises(InputError, match=r"bad\.tsv, row 2: identifier_frequency must be a non-negative count"):
        literature_counts(FACTS, "table", table=str(bad))


def test_none_source_warns_and_leaves_na(caplog):
    with caplog.at_level(logging.WARNING):
        out = literature_counts(FACTS, "none")
    assert out["identifier_frequency"].isna().all() and out["term_frequency"].isna().all()
    assert "literature.source is 'none'" in caplog.text
