"""facts.source: table and literature.source: europepmc run by real Snakemake on the tiny fixtures,
with a local imitation of Europe PMC (no test touches the internet)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import planned_jobs, run_snakemake, write_config
from fake_europepmc import FakeEuropePMC, serve

TARGETS = ["results/facts/facts.tsv", "results/facts/literature_counts.tsv"]
HPO = {"path": "tests/data/tables/published_hpo.csv", "id_column": "hpo_id", "label_column": "term",
       "covariates": {"identifier_frequency": "id_hits", "term_frequency": "term_hits", "annotation_count": "annotations"}}
GO = {"path": "tests/data/tables/published_go.tsv", "id_column": "GO ID", "label_column": "GO term",
      "split": "column", "split_column": "split"}


def table_config(workdir, name, url, on_mismatch="drop", hpo=HPO, **europepmc):
    return write_config(
        workdir, "tests/configs/tiny.yaml", name,
        facts={"source": "table", "tables": [hpo, GO], "on_mismatch": on_mismatch},
        literature={"source": "europepmc", "europepmc": {"base_url": url, "min_interval": 0, "backoff": 0.01, **europepmc}},
    )


@pytest.mark.slow
def test_published_tables_with_europepmc_counts(workdir):
    fake = FakeEuropePMC(failures={'"Spine"': [429, 500]})
    with serve(fake):
        cfg = table_config(workdir, "table.yaml", fake.url)
        run_snakemake(workdir, *TARGETS, "--configfile", str(cfg))
        facts = pd.read_csv(workdir / "results/facts/facts.tsv", sep="\t")
        assert facts.groupby(["ontology", "split"]).size().to_dict() == {("go", "heldout"): 3, ("go", "train"): 3, ("hpo", "train"): 5}
        assert "HP:0000012" in set(facts["term_id"])  # the alt_id HP:0000100, mapped
        report = pd.read_csv(workdir / "results/facts/facts_table_report.tsv", sep="\t")
        assert report[["table_id", "issue", "action"]].values.tolist() == [
            ["HP:0000008", "obsolete", "dropped"], ["HP:0000100", "alt_id", "mapped"],
            ["HP:0000010", "label_differs", "dropped"], ["HP:0009999", "unknown", "dropped"]]
        log = (workdir / "logs/table_facts.log").read_text()
        assert "line 7: HP:0009999 unknown (not in release tiny/releases/2025-01-01) → dropped" in log
        prov = json.loads((workdir / "results/facts/facts.provenance.json").read_text())
        assert prov["issues"] == {"obsolete": 1, "alt_id": 1, "label_differs": 1, "unknown": 1}

        lit = pd.read_csv(workdir / "results/facts/literature_counts.tsv", sep="\t").set_index("fact_id")
        assert lit.loc["hpo:HP:0000003", "identifier_frequency"] == 12  # the table's count wins where given
        assert lit.loc["hpo:HP:0000005", "identifier_frequency"] == fake.count('"HP:0000005"')  # empty cell: fetched
        assert lit.loc["go:GO:0000001", "term_frequency"] == fake.count('"Kidney lens cell"')
        assert len(set(fake.requests)) == 22 and fake.requests.count('"Spine"') == 3
        assert (workdir / "resources/literature/europepmc.jsonl").exists()

        # nothing changed, and the same settings in another key order → nothing to do
        assert planned_jobs(workdir, *TARGETS, "--configfile", str(cfg)) == {}
        shuffled = table_config(workdir, "shuffled.yaml", fake.url, hpo=dict(reversed(list(HPO.items()))))
        text = shuffled.read_text()
        assert text.index("covariates") < text.index("path: tests/data/tables/published_hpo.csv")
        assert planned_jobs(workdir, *TARGETS, "--configfile", str(shuffled)) == {}
        # fetched again from scratch (its output removed): the cache answers, the service is not asked
        (workdir / "results/facts/literature_europepmc.tsv").unlink()
        asked = len(fake.requests)
        run_snakemake(workdir, *TARGETS, "--configfile", str(cfg))
        assert len(fake.requests) == asked
        # on_mismatch error: the job fails, listing the rows; the report is in the log
        strict = table_config(workdir, "strict.yaml", fake.url, on_mismatch="error")
        proc = run_snakemake(workdir, *TARGETS, "--configfile", str(strict), check=False)
        assert proc.returncode != 0
        log = (workdir / "logs/table_facts.log").read_text()
        assert "3 row(s) do not match the ontology release (facts.on_mismatch: error)" in log
        assert "published_hpo.csv, line 6: HP:0000010 label_differs (the release calls HP:0000010 'Retina')" in log


def test_table_config_errors_before_any_job(workdir):
    cfg = write_config(workdir, "tests/configs/tiny.yaml", "bad.yaml",
                       facts={"source": "table", "tables": [{"path": "tests/data/tables/absent.csv", "ontology": "mp"}]})
    proc = run_snakemake(workdir, "-n", "--configfile", str(cfg), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "facts.tables.0.path: file not found: tests/data/tables/absent.csv" in out
    assert "facts.tables.0.ontology: 'mp' is not a key of `ontologies`" in out


def test_the_published_table_example_config_is_valid(tmp_path):
    import yaml

    from conftest import REPO
    from factsurv.config import validate_config

    cfg = yaml.safe_load((REPO / "config/published_table.yaml").read_text())
    assert [t["path"] for t in cfg["facts"]["tables"]] == ["resources/tables/hpo_terms.csv", "resources/tables/go_terms.csv"]
    for t in cfg["facts"]["tables"]:  # the published files are not in the repository
        t["path"] = str(REPO / "tests/data/tables/published_hpo.csv")
    cfg["models"]["llama"]["local_files_only"] = False  # no weights on a test machine
    cfg = validate_config(cfg, REPO / "workflow/schemas/config.schema.yaml")
    assert cfg["facts"]["source"] == "table" and cfg["literature"]["source"] == "europepmc"
    assert cfg["literature"]["europepmc"]["base_url"] == "https://www.ebi.ac.uk/europepmc/webservices/rest/search"
    assert cfg["facts"]["tables"][1]["split"] == "random" and cfg["facts"]["tables"][1]["heldout"] == 400
