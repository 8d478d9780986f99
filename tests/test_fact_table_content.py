"""The content of a user's fact table (facts.source: table), row by row, before the ontology
release is asked: malformed identifiers, another ontology's prefix, an identifier twice, an empty
label, a covariate column without any value (factsurv.data.fact_table.content_problems; the
pre-flight stops on them before any job: tests/test_bad_inputs.py). Here: what each finds, and that
on_mismatch: drop drops them, counts them per reason and the report shows the counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_snakemake, write_config
from factsurv.data.fact_table import Release, content_problems, drop_counts, facts_from_tables, read_table
from factsurv.data.ontology import parse_terms
from factsurv.io import InputError
from factsurv.tables import FACT_TABLE_DROP_COLUMNS

PREFIXES = {"hpo": "HP", "go": "GO"}
ROWS = [  # (line, id, label): the problem each row has, if any
    (2, "HP:0000003", "Lens"),
    (3, "HP_0000005", "Bone cell"),            # malformed (the PURL form)
    (4, "GO:0000001", "Kidney lens cell"),     # wrong_prefix: the table is hpo
    (5, "HP:0000003", "Lens"),                 # duplicate of line 2
    (6, "HP:0000017", ""),                     # blank_label
    (7, "HP:0000100", "Heart lung"),           # the alt_id of HP:0000012 …
    (8, "HP:0000012", "Heart lung"),           # … so this is the same term again (known from the release only)
    (9, "HP:0000013", "Pelvic cortex"),
]


def write(tmp_path: Path, rows=ROWS) -> dict:
    path = tmp_path / "facts.csv"
    path.write_text("id,label\n" + "".join(f"{i},{lab}\n" for _, i, lab in rows))
    return {"path": str(path), "id_column": "id", "label_column": "label", "ontology": "hpo"}


@pytest.fixture(scope="module")
def releases():
    out = {}
    for onto, stem in (("hpo", "hp"), ("go", "go")):
        terms, _, graph = parse_terms(REPO / f"tests/data/tiny/{stem}.obo")
        out[onto] = Release(terms, graph.alt_ids, graph.replaced_by, graph.release)
    return out


def test_each_row_gets_its_first_problem(tmp_path):
    spec = write(tmp_path)
    found = content_problems([(spec, read_table(spec))], PREFIXES)
    assert [(p["line"], p["issue"], p["column"]) for p in found] == [
        (3, "malformed", "id"), (4, "wrong_prefix", "id"), (5, "duplicate", "id"), (6, "blank_label", "label")]
    notes = {p["issue"]: p["note"] for p in found}
    assert notes["malformed"] == "not PREFIX:LOCAL; did you mean HP:0000005?"
    assert notes["wrong_prefix"].startswith("a go identifier, but the table's ontology is hpo (prefix HP)")
    assert notes["duplicate"].endswith("facts.csv, line 2 again")


def test_a_duplicate_across_tables_and_a_prefix_no_ontology_has(tmp_path):
    a = write(tmp_path, [(2, "HP:0000003", "Lens")])
    other = tmp_path / "more.tsv"
    other.write_text("id\nHP:0000003\nMP:0000001\nhp:0000005\n")
    b = {"path": str(other), "id_column": "id"}  # ontology from the prefix
    found = content_problems([(a, read_table(a)), (b, read_table(b))], PREFIXES)
    assert [(p["line"], p["issue"]) for p in found] == [(2, "duplicate"), (3, "wrong_prefix"), (4, "wrong_prefix")]
    assert found[2]["note"].endswith("did you mean HP:0000005?")


def test_drop_drops_and_counts_per_reason(tmp_path, releases):
    spec = write(tmp_path)
    counts = {o: pd.DataFrame({"term_id": r.terms.index, "annotation_count_direct": 1, "annotation_count": 2})
              for o, r in releases.items()}
    facts, _, report = facts_from_tables([spec], releases, PREFIXES, counts, on_mismatch="drop", seed=0)
    assert facts["term_id"].tolist() == ["HP:0000003", "HP:0000012", "HP:0000013"]
    dropped = report[report["action"] == "dropped"]
    assert dropped[["line", "issue"]].values.tolist() == [
        [3, "malformed"], [4, "wrong_prefix"], [5, "duplicate"], [6, "blank_label"], [8, "duplicate"]]
    assert "an alt_id counts as its primary identifier" in dropped["note"].iloc[-1]
    drops = drop_counts(report)
    assert tuple(drops.columns) == FACT_TABLE_DROP_COLUMNS
    assert drops[["issue", "rows", "lines"]].values.tolist() == [
        ["malformed", 1, "line 3"], ["wrong_prefix", 1, "line 4"], ["duplicate", 2, "lines 5, 8"],
        ["blank_label", 1, "line 6"]]
    for on_mismatch in ("error", "keep"):  # a broken row is never kept: the same message as the pre-flight's
        with pytest.raises(InputError, match=r"facts\.csv, line 3, column 'id': 1 row\(s\) have an identifier that is not"):
            facts_from_tables([spec], releases, PREFIXES, counts, on_mismatch=on_mismatch, seed=0)


def test_first_few_lines_are_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,label\n" + "".join(f" ,x{i}\n" for i in range(8)))
    with pytest.raises(InputError, match=r"t\.csv, lines 2, 3, 4, 5, 6 and 3 more: empty identifier in column 'id'"):
        read_table({"path": str(path), "id_column": "id"})
    path.write_text("id,n\nHP:0000003,\nHP:0000005,NA\n")
    with pytest.raises(InputError, match=r"column 'n' \(facts\.tables covariates\.term_frequency\) has no value in any of its 2 rows"):
        read_table({"path": str(path), "id_column": "id", "covariates": {"term_frequency": "n"}})


@pytest.mark.slow
def test_the_drop_counts_are_a_table_of_the_report(workdir):
    """A real data stage with on_mismatch: drop: table_facts drops the broken rows and
    fact_table_drops counts them in results/facts/facts_table_drops.tsv, which the report shows."""
    table = workdir / "tests/data/tables/broken.csv"
    table.write_text("id,label\nHP:0000003,Lens\nHP_0000005,Bone cell\nHP:0000003,Lens\nHP:0000017,\nHP:0009999,Imaginary\n")
    cfg = write_config(workdir, "tests/configs/tiny.yaml", "drop.yaml", facts={
        "source": "table", "on_mismatch": "drop",
        "tables": [{"path": "tests/data/tables/broken.csv", "id_column": "id", "label_column": "label"}]},
        runs__tiny__training__batch_size=2)  # 5 rows: a batch of 8 would be refused
    target = "results/facts/facts_table_drops.tsv"
    run_snakemake(workdir, target, "--configfile", str(cfg))
    drops = pd.read_csv(workdir / target, sep="\t")
    assert drops[["issue", "rows"]].values.tolist() == [
        ["malformed", 1], ["duplicate", 1], ["blank_label", 1], ["unknown", 1]]
    log = (workdir / "logs/table_facts.log").read_text()
    assert "broken.csv: dropped 1 row(s) (malformed): line 3" in log
    run_snakemake(workdir, target, "--configfile", str(cfg), "--report", "report.zip")
    import zipfile

    with zipfile.ZipFile(workdir / "report.zip") as z:
        assert any(n.endswith("facts_table_drops.tsv") for n in z.namelist()), z.namelist()[:20]
