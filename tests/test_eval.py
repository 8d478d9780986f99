"""Per-epoch greedy evaluation: exact columns, every fact, correctness by SPEC §1."""

from __future__ import annotations

import pytest
import torch

from factsurv.io import write_tsv
from factsurv.modeling import generation
from factsurv.modeling.evaluate import evaluate_epoch
from factsurv.tables import EVAL_COLUMNS
from factsurv.prompts import PromptSettings, encode_prompt, encode_target, render_prompts, split_trailing_space
from factsurv.modeling.loading import load_tokenizer, model_spec
from support.tiny_models import build_tiny_model, synthetic_facts

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("eval")
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=4, n_heldout=3), facts)
    return model_spec({"source": "path"}, build_tiny_model(root / "m")), facts


def test_epoch0_table_has_exact_columns_for_every_fact(tiny):
    spec, facts = tiny
    t = evaluate_epoch(spec, facts, 0, PROMPT, batch_size=3, max_new_tokens=4)
    assert list(t.columns) == list(EVAL_COLUMNS)
    assert len(t) == 7 and (t["epoch"] == 0).all() and set(t["correct"]) <= {0, 1}


def test_correct_uses_normalisation(tiny, monkeypatch):
    spec, facts = tiny
    calls = {}

    def fake(model, tokenizer, prompt_ids, **kw):
        calls["n"] = len(prompt_ids)
        return [[generation.Answer("hp : 0000001 extra", -0.5, 4)] for _ in prompt_ids]

    monkeypatch.setattr(generation, "generate_answers", fake)
    t = evaluate_epoch(spec, facts, 0, PROMPT, batch_size=4, max_new_tokens=8)
    assert calls["n"] == 7 and t["correct"].sum() == 0
    assert (t["prediction"] == "hp : 0000001 extra").all()


def test_epoch_needs_checkpoint(tiny):
    spec, facts = tiny
    with pytest.raises(ValueError, match="checkpoint"):
        evaluate_epoch(spec, facts, 2, PROMPT, batch_size=4, max_new_tokens=8)


def test_prompt_and_target_tokenise_like_the_running_text(tiny):
    """Training ids = prompt ids + answer ids, equal to the ids of 'Answer: HP:…' as one text."""
    spec, _ = tiny
    tok = load_tokenizer(spec)
    facts = synthetic_facts(n_train=1, n_heldout=0)
    prompt = render_prompts(tok, facts, PROMPT)[0]
    _, lead = split_trailing_space(tok, prompt, PROMPT)
    assert lead == " "
    ids = encode_prompt(tok, prompt, PROMPT) + encode_target(tok, facts["term_id"][0], lead)
    whole = tok(prompt + facts["term_id"][0], add_special_tokens=True)["input_ids"] + [tok.eos_token_id]
    assert ids == whole


def test_lora_checkpoint_is_scored_unmerged(tiny, tmp_path):
    """eval keeps a LoRA adapter unmerged (a merge into bf16 weights rounds small updates away:
    tests/test_eval_precision.py); the logits are those of the trained model."""
    from peft import PeftModel

    from factsurv.modeling import checkpoint as ckpt
    from factsurv.modeling.evaluate import load_trained
    from factsurv.modeling.loading import build_trainable_model
    from factsurv.modeling.train import TrainSettings, train_epoch

    spec, facts = tiny
    settings = TrainSettings.from_params(
        {"method": "lora", "lr": 5e-2, "schedule_epochs": 1, "batch_size": 4,
         "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}}, seed=1, threads=0)
    train_epoch(spec, facts, 1, tmp_path / "epoch_1", settings, PROMPT)
    merged, tok, meta = load_trained(spec, tmp_path / "epoch_1", epoch=1)
    assert isinstance(merged, PeftModel)  # the adapter as trained, not folded into the base
    torch.manual_seed(0)
    unmerged = build_trainable_model(spec, "lora", meta["lora"])
    ckpt.load_weights(unmerged, tmp_path / "epoch_1", "lora")
    unmerged.eval()
    ids = torch.tensor([[1, 5, 9, 12, 7, 3]])
    with torch.no_grad():
        a, b = merged(input_ids=ids).logits, unmerged(input_ids=ids).logits
        base = build_trainable_model(spec, "full", {})(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, base, atol=1e-4)  # the adapter did change the model


def test_eval_table_is_the_same_whatever_the_fact_order(tiny, tmp_path):
    """Batches depend only on the set of prompts (generation.batch_order), so a fact's row, its
    answer's log-probability included, is bit-identical when the facts table is shuffled."""
    spec, _ = tiny
    facts = synthetic_facts(n_train=17, n_heldout=6, seed=4)
    facts.loc[::4, "label"] = facts.loc[::4, "label"] + " of the kidney"  # lengths differ: padding
    a_path, b_path = tmp_path / "a.tsv", tmp_path / "b.tsv"
    write_tsv(facts, a_path)
    write_tsv(facts.sample(frac=1.0, random_state=1), b_path)
    a = evaluate_epoch(spec, a_path, 0, PROMPT, batch_size=5, max_new_tokens=6)
    b = evaluate_epoch(spec, b_path, 0, PROMPT, batch_size=5, max_new_tokens=6)
    assert list(b["fact_id"]) != list(a["fact_id"])  # the table keeps the facts' order
    b = b.set_index("fact_id").loc[a["fact_id"]].reset_index()
    assert b.equals(a)


def test_gold_logprob_is_the_training_loss_of_the_right_answer(tiny):
    """gold_logprob / gold_tokens is minus the loss train_epoch computes on the same example, one
    fact alone or in a padded batch of several."""
    from factsurv.designs import QUESTION
    from factsurv.io import read_tsv
    from factsurv.modeling.loading import load_model
    from factsurv.modeling.train import encode_examples

    spec, facts_path = tiny
    facts = read_tsv(facts_path, dtype={"fact_id": str})
    t = evaluate_epoch(spec, facts_path, 0, PROMPT, batch_size=3, max_new_tokens=4).set_index("fact_id")
    tok, model = load_tokenizer(spec), load_model(spec, device="cpu")
    examples = encode_examples(tok, facts.set_index("fact_id", drop=False), PROMPT,
                               [(f, QUESTION, "") for f in facts["fact_id"]])
    with torch.inference_mode():
        for fid, (ids, labels) in zip(facts["fact_id"], examples):
            loss = float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss)
            n = sum(1 for y in labels if y != -100)
            assert t.loc[fid, "gold_tokens"] == n
            assert t.loc[fid, "gold_logprob"] / n == pytest.approx(-loss, abs=1e-4)
