"""The baseline probe: columns, latent logic, sample bookkeeping."""

from __future__ import annotations

import pytest
import torch

from factsurv.io import read_tsv, write_tsv
from factsurv.modeling import generation
from factsurv.modeling.facts import PromptSettings
from factsurv.modeling.loading import load_model, load_tokenizer, model_spec
from factsurv.modeling.probe import PROBE_COLUMNS, ProbeSettings, probe_baseline, probe_table
from factsurv.modeling.tiny import build_tiny_model, synthetic_facts

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("probe")
    return model_spec({"source": "path"}, build_tiny_model(root / "m")), root


def test_probe_columns_and_counts_on_a_real_model(tiny, tmp_path):
    spec, _ = tiny
    facts = tmp_path / "facts.tsv"
    df = synthetic_facts(n_train=5, n_heldout=3)
    write_tsv(df, facts)
    table = probe_baseline(spec, facts, PROMPT, ProbeSettings(k=3, batch_size=4, max_new_tokens=6, seed=5))
    assert list(table.columns) == PROBE_COLUMNS
    assert list(table["fact_id"]) == list(df["fact_id"])
    assert (table["n_samples"] == 3).all()
    assert all(len(s.split(" || ")) == 3 for s in table["samples"])
    write_tsv(table, tmp_path / "p.tsv")
    back = read_tsv(tmp_path / "p.tsv", PROBE_COLUMNS)
    assert len(back) == len(df)
    again = probe_baseline(spec, facts, PROMPT, ProbeSettings(k=3, batch_size=4, max_new_tokens=6, seed=5))
    assert list(again["samples"]) == list(table["samples"])  # seeded: reproducible


def test_latent_and_p_correct(tiny, monkeypatch):
    """Greedy wrong + some sample right → latent; greedy right → never latent."""
    spec, _ = tiny
    tok = load_tokenizer(spec)
    model = load_model(spec)
    facts = synthetic_facts(n_train=3, n_heldout=0)
    gold = dict(zip(facts["label"], facts["term_id"]))

    def fake(model, tokenizer, prompt_ids, num_samples=0, **kw):
        out = []
        for ids in prompt_ids:
            text = tokenizer.decode(ids)
            label = next(lab for lab in gold if f'"{lab}"' in text)
            g = gold[label]
            i = list(gold).index(label)
            if num_samples == 0:
                out.append([f" {g}" if i == 0 else " HP:0000000"])
            else:  # fact 0: all right, fact 1: 1 of 4 right (latent), fact 2: none right
                right = {0: 4, 1: 1, 2: 0}[i]
                out.append([g.lower()] * right + ["nonsense"] * (num_samples - right))
        return out

    monkeypatch.setattr(generation, "generate_answers", fake)
    t = probe_table(model, tok, facts, PROMPT, ProbeSettings(k=4))
    assert list(t["greedy_correct"]) == [1, 0, 0]
    assert list(t["n_correct_samples"]) == [4, 1, 0]
    assert list(t["p_correct"]) == [1.0, 0.25, 0.0]
    assert list(t["latent"]) == [0, 1, 0]
