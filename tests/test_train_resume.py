"""Exact resume: epochs trained as separate train_epoch calls equal one uninterrupted process."""

from __future__ import annotations

import pytest
import torch

from factsurv.io import write_tsv
from factsurv.modeling import checkpoint as ckpt
from factsurv.prompts import PromptSettings
from factsurv.modeling.loading import model_spec
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.modeling.train import TrainSettings, epoch_order, linear_schedule, train_epoch, train_epochs

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=12, n_heldout=4), facts)
    return model, facts


def _settings(method: str, **kw) -> TrainSettings:
    training = {"method": method, "lr": 1e-2, "schedule_epochs": 4, "warmup_ratio": 0.2, "batch_size": 4,
                "grad_accum": 2, "lora": {"r": 4, "alpha": 8, "dropout": 0.1,
                                          "target_modules": ["q_proj", "v_proj", "down_proj"]}}
    training.update(kw)
    return TrainSettings.from_params(training, seed=3, threads=0)


def _weights(ckpt_dir, method):
    from safetensors.torch import load_file

    return load_file(str(ckpt_dir / ckpt.weights_file(method)))


@pytest.mark.parametrize("method", ["lora", "full"])
def test_three_resumed_epochs_equal_one_process(tiny, tmp_path, method):
    model, facts = tiny
    spec = model_spec({"source": "path"}, model)
    s = _settings(method)
    train_epochs(spec, facts, 3, tmp_path / "one", s, PROMPT)
    prev = None
    for e in (1, 2, 3):
        out = tmp_path / "split" / f"epoch_{e}"
        train_epoch(spec, facts, e, out, s, PROMPT, previous=prev)
        prev = out
    a, b = _weights(tmp_path / "one" / "epoch_3", method), _weights(prev, method)
    assert a.keys() == b.keys() and a
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-6
    # and training moved the weights at all (the comparison is not vacuous)
    first = _weights(tmp_path / "one" / "epoch_1", method)
    assert max(float((a[k] - first[k]).abs().max()) for k in a) > 1e-4
    meta = ckpt.read_meta(prev)
    assert meta["epoch"] == 3 and meta["method"] == method and meta["seed"] == 3
    assert meta["base"]["fingerprint"].startswith("sha256:")
    assert (prev / ckpt.TRAINER_STATE).exists()


def test_schedule_spans_schedule_epochs_not_epochs():
    f = linear_schedule(warmup=2, total=10)
    assert f(0) < f(1) < f(2) == 1.0
    assert f(6) == pytest.approx(0.5) and f(10) == 0.0 and f(12) == 0.0


def test_epoch_order_depends_on_seed_and_epoch_only():
    assert epoch_order(20, 1, 2) == epoch_order(20, 1, 2)
    assert epoch_order(20, 1, 2) != epoch_order(20, 1, 3)
    assert sorted(epoch_order(20, 1, 2)) == list(range(20))


def test_default_plan_trains_the_earlier_examples_in_the_earlier_order(tiny):
    """The default design's plan gives the examples the recipe built before plans existed (one
    question per trained fact, in facts.tsv order) visited in epoch_order(n, seed, epoch)."""
    from factsurv.io import read_tsv
    from factsurv.prompts import encode_prompt, encode_target, render_prompts, split_trailing_space
    from factsurv.modeling.loading import load_tokenizer
    from factsurv.modeling.train import IGNORE, EpochRecipe

    model, facts_path = tiny
    spec = model_spec({"source": "path"}, model)
    facts = read_tsv(facts_path, dtype={"fact_id": str, "term_id": str, "label": str})
    s = _settings("full")
    recipe = EpochRecipe(spec, facts, s, PROMPT)
    recipe.tokenizer, recipe._encoded = load_tokenizer(spec), {}
    train = facts[facts["split"] == "train"].reset_index(drop=True)
    old = []  # the recipe's examples before plans (its former _examples, verbatim)
    for prompt, target in zip(render_prompts(recipe.tokenizer, train, PROMPT), train["term_id"]):
        _, lead = split_trailing_space(recipe.tokenizer, prompt, PROMPT)
        p = encode_prompt(recipe.tokenizer, prompt, PROMPT)
        t = encode_target(recipe.tokenizer, str(target), lead)
        old.append((p + t, [IGNORE] * len(p) + t))
    for epoch in range(1, s.schedule_epochs + 1):
        assert recipe.epoch_examples(epoch) == [old[i] for i in epoch_order(len(old), s.seed, epoch)]


def test_a_changed_plan_is_refused_on_resume(tiny, tmp_path):
    from factsurv.designs import build_plan, default_design
    from factsurv.io import read_tsv
    from factsurv.modeling.checkpoint import CheckpointMismatch

    model, facts_path = tiny
    spec = model_spec({"source": "path"}, model)
    s = _settings("full")
    facts = read_tsv(facts_path, dtype={"fact_id": str, "term_id": str, "label": str})
    d = default_design()
    write_tsv(build_plan(facts, d, s.seed, s.schedule_epochs, PROMPT.ontology_names), tmp_path / "qa.tsv")
    d["strategy"] = "mixed"
    write_tsv(build_plan(facts, d, s.seed, s.schedule_epochs, PROMPT.ontology_names), tmp_path / "mixed.tsv")
    stats = train_epoch(spec, facts_path, 1, tmp_path / "e1", s, PROMPT, plan_path=tmp_path / "mixed.tsv")
    meta = ckpt.read_meta(tmp_path / "e1")
    assert meta["n_train"] == 2 * 12 and len(meta["plan"]["train_plan_sha256"]) == 64  # a question and a statement per fact
    assert stats["tokens"] > 0
    with pytest.raises(CheckpointMismatch, match="train_plan_sha256"):
        train_epoch(spec, facts_path, 2, tmp_path / "e2", s, PROMPT, previous=tmp_path / "e1", plan_path=tmp_path / "qa.tsv")
    train_epoch(spec, facts_path, 2, tmp_path / "e2", s, PROMPT, previous=tmp_path / "e1", plan_path=tmp_path / "mixed.tsv")
