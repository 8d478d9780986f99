"""Facts from a published (or curated) table, checked against the ontology release.

tests/data/tables/published_hpo.csv holds, besides clean rows, an obsolete id (HP:0000008, line 4),
an alt_id (HP:0000100 → HP:0000012, line 5), a relabelled term (HP:0000010 "Retinal anomaly" vs
"Retina", line 6), an unknown id (HP:0009999, line 7) and a label that differs only in case and
spacing (line 8, not a mismatch).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from factsurv.data.fact_table import Release, facts_from_tables, read_table
from factsurv.data.ontology import parse_terms
from factsurv.tables import FACT_COLUMNS, FACT_TABLE_REPORT_COLUMNS
from factsurv.io import InputError

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/data/tiny"
TABLES = REPO / "tests/data/tables"
PREFIXES = {"hpo": "HP", "go": "GO"}
HPO_TABLE = {
    "path": str(TABLES / "published_hpo.csv"), "id_column": "hpo_id", "label_column": "term", "split": "train",
    "covariates": {"identifier_frequency": "id_hits", "term_frequency": "term_hits", "annotation_count": "annotations"},
}
GO_TABLE = {"path": str(TABLES / "published_go.tsv"), "id_column": "GO ID", "label_column": "GO term",
            "split": "column", "split_column": "split"}


@pytest.fixture(scope="module")
def releases():
    out = {}
    for onto in ("hpo", "go"):
        terms, _, graph = parse_terms(TINY / f"{'hp' if onto == 'hpo' else 'go'}.obo")
        out[onto] = Release(terms, graph.alt_ids, graph.replaced_by, graph.release)
    return out


@pytest.fixture(scope="module")
def counts(releases):
    return {o: pd.DataFrame({"term_id": r.terms.index, "annotation_count_direct": 1, "annotation_count": 10})
            for o, r in releases.items()}


def run(releases, counts, on_mismatch, tables=(HPO_TABLE,), seed=13):
    return facts_from_tables(list(tables), releases, PREFIXES, counts, on_mismatch=on_mismatch, seed=seed)


EXPECTED_ISSUES = [  # (line, table_id, term_id, issue)
    (4, "HP:0000008", "HP:0000008", "obsolete"),
    (5, "HP:0000100", "HP:0000012", "alt_id"),
    (6, "HP:0000010", "HP:0000010", "label_differs"),
    (7, "HP:0009999", "HP:0009999", "unknown"),
]


def test_error_lists_every_mismatch_and_logs_the_report(releases, counts, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(InputError) as err:
        run(releases, counts, "error")
    msg = str(err.value)
    assert "3 row(s) do not match the ontology release (facts.on_mismatch: error)" in msg
    assert "published_hpo.csv, line 4: HP:0000008 obsolete (obsolete in release tiny/releases/2025-01-01; replaced_by HP:0000009)" in msg
    assert "line 6: HP:0000010 label_differs (the release calls HP:0000010 'Retina')" in msg
    assert "line 7: HP:0009999 unknown (not in release tiny/releases/2025-01-01)" in msg
    assert "HP:0000100" not in msg  # an alt_id is mapped, never an error
    assert "HP:0000100 alt_id (alt_id of HP:0000012 in release tiny/releases/2025-01-01; mapped to HP:0000012) → mapped" in caplog.text
    assert "HP:0000008 obsolete" in caplog.text and "→ error" in caplog.text


def test_drop_removes_the_mismatches_and_maps_the_alt_id(releases, counts):
    facts, overrides, report = run(releases, counts, "drop")
    assert tuple(facts.columns) == FACT_COLUMNS and tuple(report.columns) == FACT_TABLE_REPORT_COLUMNS
    assert [tuple(r) for r in report[["line", "table_id", "term_id", "issue"]].itertuples(index=False)] == EXPECTED_ISSUES
    assert report.set_index("issue")["action"].to_dict() == {
        "obsolete": "dropped", "alt_id": "mapped", "label_differs": "dropped", "unknown": "dropped"}
    assert facts["term_id"].tolist() == ["HP:0000003", "HP:0000005", "HP:0000012", "HP:0000013", "HP:0000017"]
    assert (facts["fact_id"] == "hpo:" + facts["term_id"]).all() and (facts["split"] == "train").all()
    f = facts.set_index("term_id")
    assert f.loc["HP:0000012", "label"] == "Heart lung"
    assert f.loc["HP:0000013", "label"] == "pelvic cortex"  # the table's spelling, whitespace collapsed
    # table covariates override the computed ones only where given
    assert f.loc["HP:0000003", "annotation_count"] == 5 and f.loc["HP:0000005", "annotation_count"] == 10
    assert (f["annotation_count_direct"] == 1).all()
    o = overrides.set_index("fact_id")
    assert o.loc["hpo:HP:0000003", "identifier_frequency"] == 12 and pd.isna(o.loc["hpo:HP:0000005", "identifier_frequency"])
    assert o.loc["hpo:HP:0000012", "term_frequency"] == 55


def test_keep_keeps_everything_as_given(releases, counts):
    facts, overrides, report = run(releases, counts, "keep")
    assert set(report.loc[report["issue"] != "alt_id", "action"]) == {"kept"}
    assert len(facts) == 8
    f = facts.set_index("term_id")
    assert f.loc["HP:0000010", "label"] == "Retinal anomaly" and f.loc["HP:0000010", "label_chars"] == 15
    assert f.loc["HP:0000008", "label"] == "Brain retina cortex"
    unknown = f.loc["HP:0009999"]
    assert unknown["label"] == "Imaginary sign" and pd.isna(unknown["depth"]) and pd.isna(unknown["namespace"])
    assert unknown["annotation_count"] == 0 and pd.isna(unknown["annotation_count_direct"])  # given 0 in the table
    assert unknown["leading_zeros"] == 3


def test_split_column_ontology_by_prefix_and_random_split(releases, counts):
    facts, _, report = run(releases, counts, "drop", tables=(HPO_TABLE, GO_TABLE))
    go = facts[facts["ontology"] == "go"]
    assert go["split"].tolist() == ["train", "heldout"] * 3
    assert (go["namespace"] == "cellular_component").all()
    rnd = {**GO_TABLE, "split": "random", "heldout": 2}
    a, _, _ = run(releases, counts, "error", tables=(rnd,))
    b, _, _ = run(releases, counts, "error", tables=(rnd,))
    assert (a["split"] == "heldout").sum() == 2
    pd.testing.assert_frame_equal(a, b)
    seeds = {tuple(run(releases, counts, "error", tables=(rnd,), seed=s)[0]["split"]) for s in range(6)}
    assert len(seeds) > 1
    with pytest.raises(InputError, match=r"published_go\.tsv: facts\.tables heldout 9 is more than its 6 facts"):
        run(releases, counts, "error", tables=({**rnd, "heldout": 9},))


def test_labels_from_the_release_when_the_table_has_none(releases, counts, tmp_path):
    t = tmp_path / "ids.tsv"
    t.write_text("id\nHP:0000003\nHP:0000100\n\nHP:0000017\n")
    facts, _, report = run(releases, counts, "error", tables=({"path": str(t), "id_column": "id"},))
    assert facts["label"].tolist() == ["Lens", "Heart lung", "Spine"]
    assert report["line"].tolist() == [3]  # the alt_id; the blank line 4 still counts
    assert facts["annotation_count"].tolist() == [10, 10, 10]


@pytest.mark.parametrize(
    ("text", "spec", "match"),
    [
        ("id,label\nHP:0000003,Lens\n", {"id_column": "hpo_id"}, r"bad\.csv: no column 'hpo_id' \(facts\.tables id_column\); found \['id', 'label'\]"),
        ("id,label\nHP:0000003,Lens\n ,x\n", {"id_column": "id"}, r"bad\.csv, line 3: empty identifier in column 'id'"),
        ("id,s\nHP:0000003,train\nHP:0000005,test\n", {"id_column": "id", "split": "column", "split_column": "s"},
         r"bad\.csv, line 3: column 's' must be train or heldout, got 'test'"),
        ("id,n\nHP:0000003,many\n", {"id_column": "id", "covariates": {"annotation_count": "n"}},
         r"bad\.csv, line 2: column 'n' \(annotation_count\) must be a non-negative count or empty, got 'many'"),
        ("id,n\nHP:0000003,-1\n", {"id_column": "id", "covariates": {"term_frequency": "n"}}, r"line 2: column 'n' \(term_frequency\)"),
        ("", {"id_column": "id"}, r"bad\.csv: empty file"),
    ],
)


def test_bad_tables_name_file_column_and_line(tmp_path, text, spec, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_table({"path": str(p), **spec})


def test_duplicates_after_alt_id_mapping_and_unkeepable_rows(releases, counts, tmp_path):
    dup = tmp_path / "dup.tsv"
    dup.write_text("id\nHP:0000012\nHP:0000100\n")
    with pytest.raises(InputError, match=r"HP:0000012 \(hpo\) is listed twice: .*dup\.tsv, line 2 and .*dup\.tsv, line 3"):
        run(releases, counts, "error", tables=({"path": str(dup), "id_column": "id"},))
    nolabel = tmp_path / "nolabel.tsv"
    nolabel.write_text("id\nHP:0009999\n")
    with pytest.raises(InputError, match=r"nolabel\.tsv, line 2: cannot keep HP:0009999: it is not in the release and the table gives no label"):
        run(releases, counts, "keep", tables=({"path": str(nolabel), "id_column": "id"},))
    foreign = tmp_path / "foreign.tsv"
    foreign.write_text("id\tlabel\nMP:0000001\tx\nHP_0000003\tLens\nHP:0000017\tSpine\n")
    spec = {"path": str(foreign), "id_column": "id", "label_column": "label"}
    facts, _, report = run(releases, counts, "drop", tables=(spec,))
    assert facts["term_id"].tolist() == ["HP:0000017"]
    notes = report["note"].tolist()
    assert notes[0].startswith("prefix 'MP' is no configured ontology's (GO → go, HP → hpo)")
    assert notes[1].endswith("did you mean HP:0000003?")
    with pytest.raises(InputError, match=r"foreign\.tsv, line 2, column 'id': 1 row\(s\) have an identifier of another "
                       r"ontology or of no configured one \(wrong_prefix\): 'MP:0000001' \(prefix 'MP' is no configured"):
        run(releases, counts, "keep", tables=(spec,))
    with pytest.raises(InputError, match="no facts left after dropping"):
        run(releases, counts, "drop", tables=({**spec, "path": str(nolabel), "label_column": None},))
