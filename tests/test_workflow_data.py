"""The data layer run by real Snakemake on the tiny fixtures, and what re-runs when a setting changes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import planned_jobs, run_snakemake, write_config

TARGETS = ["results/facts/facts.tsv", "results/facts/literature_counts.tsv"]
DATA_RULES = {"get_ontology", "get_annotations", "parse_terms", "annotation_counts", "sample_facts", "literature_counts"}


@pytest.fixture
def data_config(workdir):
    return write_config(workdir, "tests/configs/tiny.yaml", "data.yaml", literature={"source": "none"})


@pytest.mark.slow
def test_data_layer_runs_and_replans_only_what_changed(workdir, data_config):
    cfg = ["--configfile", str(data_config)]
    run_snakemake(workdir, *TARGETS, *cfg)
    facts = pd.read_csv(workdir / "results/facts/facts.tsv", sep="\t")
    assert facts.groupby(["ontology", "split"]).size().to_dict() == {("go", "heldout"): 8, ("go", "train"): 8, ("hpo", "train"): 20}
    assert (facts["namespace"][facts["ontology"] == "go"] == "cellular_component").all()
    prov = json.loads((workdir / "results/facts/facts.provenance.json").read_text())
    assert prov["sources"]["obo_provenance_hpo"]["release"] == "tiny/releases/2025-01-01"
    assert prov["settings"]["seed"] == 3 and prov["versions"]["pronto"]
    lit = pd.read_csv(workdir / "results/facts/literature_counts.tsv", sep="\t")
    assert lit["identifier_frequency"].isna().all()
    assert "literature.source is 'none'" in (workdir / "logs/literature_counts.log").read_text()
    for log in ("get_ontology/hpo.log", "parse_terms/go.log", "annotation_counts/hpo.log", "sample_facts.log"):
        assert (workdir / "logs" / log).stat().st_size > 0

    # nothing changed → nothing to do
    assert planned_jobs(workdir, *TARGETS, *cfg) == {}
    # the sampling seed → sample_facts and what depends on it, nothing upstream
    reseeded = write_config(workdir, "tests/configs/tiny.yaml", "data2.yaml", literature={"source": "none"}, sample__seed=4)
    assert set(planned_jobs(workdir, *TARGETS, "--configfile", str(reseeded))) == {"sample_facts", "literature_counts"}
    # the propagation relations of GO → its annotation counts and downstream only
    prop = write_config(workdir, "tests/configs/tiny.yaml", "data3.yaml", literature={"source": "none"},
                        ontologies__go__propagate=["is_a"])
    jobs = planned_jobs(workdir, *TARGETS, "--configfile", str(prop))
    assert set(jobs) == {"annotation_counts", "sample_facts", "literature_counts"} and jobs["annotation_counts"] == 1
    # editing a local (source: path) ontology file re-runs its stage
    obo = workdir / "tests/data/tiny/hp.obo"
    obo.write_text(obo.read_text().replace("tiny/releases/2025-01-01", "tiny/releases/2025-01-02"))
    jobs = planned_jobs(workdir, *TARGETS, *cfg)
    assert jobs["get_ontology"] == 1 and jobs["parse_terms"] == 1 and "get_annotations" not in jobs
    # the new seed really draws other facts
    run_snakemake(workdir, *TARGETS, "--configfile", str(reseeded))
    again = pd.read_csv(workdir / "results/facts/facts.tsv", sep="\t")
    assert set(again["term_id"]) != set(facts["term_id"])


def test_too_many_facts_fails_with_both_numbers_and_keeps_old_output(workdir, data_config):
    # a local ontology file is read at planning: the count it cannot give stops the plan, not a job
    run_snakemake(workdir, "results/facts/facts.tsv", "--configfile", str(data_config))
    before = (workdir / "results/facts/facts.tsv").read_bytes()
    greedy = write_config(workdir, "tests/configs/tiny.yaml", "greedy.yaml", literature={"source": "none"},
                          sample__counts__go={"train": 30, "heldout": 30})
    proc = run_snakemake(workdir, "results/facts/facts.tsv", "--configfile", str(greedy), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "pre-flight found problems (nothing was run)" in out
    # the terms table the first run left is the source it counts (before it, the ontology file)
    assert ("sample.counts.go: asks for 60 facts (train 30 + heldout 30) but results/terms/go.tsv has only 23 "
            "eligible terms in namespace 'cellular_component'") in out
    assert "Traceback" not in out
    assert (workdir / "results/facts/facts.tsv").read_bytes() == before


def test_missing_annotation_file_is_named_before_any_job(workdir):
    cfg = write_config(workdir, "tests/configs/tiny.yaml", "noann.yaml",
                       ontologies__hpo__annotations={"source": "path", "path": "tests/data/tiny/absent.hpoa", "format": "hpoa"})
    proc = run_snakemake(workdir, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "ontologies.hpo.annotations.path: file not found: tests/data/tiny/absent.hpoa" in proc.stdout + proc.stderr
