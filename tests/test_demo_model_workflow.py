"""The demo model's rules as Snakemake runs them on the tiny config, and what a changed setting re-plans."""

from __future__ import annotations

import json
import re

import pytest

from conftest import planned_jobs, write_config
from factsurv.io import read_tsv

TINY = "tests/configs/tiny.yaml"
TARGET = "results/models/demo/pretrained"


@pytest.fixture(scope="module")
def demo_run(finished_tiny_run):
    """The session's finished tiny run (its demo model among its outputs): read and dry-run only."""
    return finished_tiny_run.workdir


@pytest.mark.slow
def test_corpus_mentions_match_the_text_and_cover_heldout(demo_run):
    wd = demo_run
    facts = read_tsv(wd / "results/facts/facts.tsv")
    mentions = read_tsv(wd / "results/models/demo/corpus_mentions.tsv")
    assert list(mentions.columns) == ["fact_id", "mentions", "profile", "wrong_mentions", "competing_id"]
    assert sorted(mentions["fact_id"]) == sorted(facts["fact_id"])
    text = (wd / "results/models/demo/corpus.txt").read_text()
    found = {tid: len(re.findall(rf"{re.escape(tid)}(?!\d)", text)) for tid in facts["term_id"]}
    by_fact = dict(zip(mentions["fact_id"], mentions["mentions"]))
    assert all(found[t] == by_fact[f] for f, t in zip(facts["fact_id"], facts["term_id"]))
    assert "Question: What is the Human Phenotype Ontology identifier for" in text
    # contested facts: their competing identifier is stated, and more often than the right one
    contested = mentions[mentions["profile"] == "contested"]
    for cid, right, wrong in zip(contested["competing_id"], contested["mentions"], contested["wrong_mentions"]):
        assert len(re.findall(rf"{re.escape(cid)}(?!\d)", text)) == wrong > right


@pytest.mark.slow
def test_pretrained_model_loads_with_auto_classes_and_records_provenance(demo_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = demo_run / TARGET
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tok)
    assert tok.eos_token == "</s>" and not getattr(tok, "chat_template", None)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 0 and "torch" in prov["versions"]
    metrics = json.loads((out / "pretrain_metrics.json").read_text())
    assert metrics["passes"] and metrics["tokens_per_s"] > 0
    assert (demo_run / "benchmarks/demo_model/demo/pretrain_demo_model.tsv").exists()
    assert "pretrain" in (demo_run / "logs/demo_model/demo/pretrain_demo_model.log").read_text()
    assert not list(out.parent.glob(".*tmp"))
    assert planned_jobs(demo_run, TARGET, "--configfile", TINY) == {}


@pytest.mark.slow
def test_changing_a_pretrain_setting_replans_only_pretraining(demo_run, tmp_path):
    # the changed configs live outside the shared run's folder
    cfg = write_config(tmp_path, TINY, name="lr.yaml", models__demo__demo__pretrain__lr=0.002)
    assert planned_jobs(demo_run, TARGET, "--configfile", str(cfg)) == {"pretrain_demo_model": 1}
    cfg = write_config(tmp_path, TINY, name="corpus.yaml", models__demo__demo__corpus__scale=3.0)
    assert planned_jobs(demo_run, TARGET, "--configfile", str(cfg)) == {
        "demo_corpus": 1, "build_demo_model": 1, "pretrain_demo_model": 1
    }
