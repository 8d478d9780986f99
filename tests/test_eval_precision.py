"""Evaluation scores the model that was trained, in bf16 too: a LoRA update of 0.1-1 % of a weight's
size must survive into what ``evaluate`` scores (a merge into bf16 weights rounds most of it away).

The model is the tiny random Llama of :func:`support.tiny_models.build_tiny_model`, or any small
Llama folder named by ``FACTSURV_SMALL_LLAMA`` (e.g. SmolLM2-135M saved with save_pretrained):

    FACTSURV_SMALL_LLAMA=/path/to/smollm2 python -m pytest tests/test_eval_precision.py

Tolerance, stated once (:data:`TOLERANCE`): over the answer positions of a few prompts, the logits
of the model that evaluation loads may differ from those of the trained model (the base in bf16 with
the adapter unmerged, as in training) by at most 5 % of the size of the update itself (the RMS of
trained-minus-base logits). The unmerged adapter meets it exactly (0); a bf16 merge misses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from factsurv.io import write_tsv
from factsurv.modeling import checkpoint as ckpt
from factsurv.modeling import loading
from factsurv.modeling.evaluate import greedy_table, load_trained
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
TOLERANCE = 0.05  # logit error / update size (RMS over positions and vocabulary)
LORA = {"r": 8, "alpha": 16, "dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


def small_llama(root: Path) -> Path:
    """``FACTSURV_SMALL_LLAMA`` when set, else a tiny random Llama (wide enough for bf16 to round)."""
    given = os.environ.get("FACTSURV_SMALL_LLAMA")
    if given:
        return Path(given)
    return build_tiny_model(root / "m", hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4)


def set_update(model, relative: float, seed: int = 0) -> None:
    """Give every LoRA module an update ``scaling * B @ A`` whose RMS is ``relative`` times the RMS
    of the base weight it adds to (0.001-0.01: what an epoch of LoRA at lr 2e-4 does)."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
        scale = module.scaling["default"]
        with torch.no_grad():
            a.copy_(torch.randn(a.shape, generator=g))
            b.copy_(torch.randn(b.shape, generator=g))
            delta = scale * (b.float() @ a.float())
            base = module.base_layer.weight.float()
            b.mul_(relative * base.pow(2).mean().sqrt() / delta.pow(2).mean().sqrt())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(spec, facts path, trained PEFT model in memory, checkpoint folder): a bf16 base with a LoRA
    update of 0.3 % of each weight's size, saved as an epoch-1 checkpoint."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("precision")
    spec = loading.model_spec({"source": "path", "dtype": "bfloat16"}, small_llama(root))
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=6, n_heldout=2), facts)
    torch.manual_seed(0)
    model = loading.build_trainable_model(spec, "lora", LORA, device="cpu")
    assert next(model.base_model.model.parameters()).dtype == torch.bfloat16
    set_update(model, 0.003)
    meta = {"base": loading.describe(spec), "method": "lora", "lora": LORA, "plan": {}, "epoch": 1,
            "seed": 1, "step": 1, "n_train": 6, "prompt": PROMPT.as_dict(), "stats": None}
    ckpt.save(root / "epoch_1", model, meta, {"step": 1})
    model.eval()
    return spec, facts, model, root / "epoch_1"


@pytest.fixture(scope="module")
def scored(trained):
    """The model evaluation loads from that checkpoint (the code under test)."""
    spec, _, _, checkpoint = trained
    return load_trained(spec, checkpoint, device="cpu", epoch=1)[0]


def prompt_batch(spec, facts_path) -> torch.Tensor:
    from factsurv.modeling.facts import read_facts

    tok = loading.load_tokenizer(spec)
    facts = read_facts(facts_path)
    ids = [encode_prompt(tok, p, PROMPT) for p in render_prompts(tok, facts, PROMPT)]
    width = min(len(x) for x in ids)
    return torch.tensor([x[:width] for x in ids])


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits.float()


def relative_error(scored: torch.Tensor, trained: torch.Tensor, base: torch.Tensor) -> float:
    """RMS(scored - trained) / RMS(trained - base)."""
    return float((scored - trained).pow(2).mean().sqrt() / (trained - base).pow(2).mean().sqrt())


def test_eval_scores_the_trained_model_within_tolerance(trained, scored):
    spec, facts, model, checkpoint = trained
    ids = prompt_batch(spec, facts)
    with model.disable_adapter():
        base = logits(model, ids)
    reference = logits(model, ids)
    assert (reference - base).abs().max() > 0  # the update moves the logits
    err = relative_error(logits(scored, ids), reference, base)
    assert err <= TOLERANCE, f"eval's logits differ from the trained model's by {err:.1%} of the update"


def test_a_bf16_merge_misses_the_tolerance(trained):
    """What the tolerance guards against: merge_and_unload in bf16 rounds the updated weights (most
    updated elements keep their old bf16 value) and the logits drift by a large share of the update."""
    import copy

    spec, facts, model, _ = trained
    ids = prompt_batch(spec, facts)
    with model.disable_adapter():
        base = logits(model, ids)
    reference = logits(model, ids)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    before = layer.base_layer.weight.detach().clone()
    merged = copy.deepcopy(model).merge_and_unload()
    after = merged.model.layers[0].self_attn.q_proj.weight
    unchanged = float((after == before).float().mean())
    err = relative_error(logits(merged, ids), reference, base)
    assert unchanged > 0.2, f"only {unchanged:.0%} of the merged weights kept their bf16 value"
    assert err > TOLERANCE, f"a bf16 merge stays within the tolerance ({err:.1%}): the test cannot tell"


def test_greedy_table_of_the_scored_model_is_that_of_the_trained_model(trained, scored):
    """What eval writes (answers, their log-probabilities) is that of the trained model."""
    from factsurv.modeling.facts import read_facts

    spec, facts_path, model, _ = trained
    facts = read_facts(facts_path)
    tok = loading.load_tokenizer(spec)
    a = greedy_table(scored, tok, facts, PROMPT, batch_size=4, max_new_tokens=4)
    b = greedy_table(model, tok, facts, PROMPT, batch_size=4, max_new_tokens=4)
    assert list(a["prediction"]) == list(b["prediction"])
    assert (a["answer_logprob"] - b["answer_logprob"]).abs().max() <= 1e-4


def test_eval_does_not_read_the_trainer_state(trained, tmp_path):
    """Loading a checkpoint for evaluation checks the weights' sha256, not the trainer state's
    (hundreds of MB for an 8B model's optimizer, never read by evaluation)."""
    import shutil

    spec, _, _, checkpoint = trained
    copy_dir = tmp_path / "epoch_1"
    shutil.copytree(checkpoint, copy_dir)
    (copy_dir / ckpt.TRAINER_STATE).write_bytes(b"not read by evaluation")
    load_trained(spec, copy_dir, device="cpu", epoch=1)
    (copy_dir / ckpt.ADAPTER_WEIGHTS).write_bytes((copy_dir / ckpt.ADAPTER_WEIGHTS).read_bytes()[:-8] + b"damaged!")
    with pytest.raises(Exception, match="damaged checkpoint file"):
        load_trained(spec, copy_dir, device="cpu", epoch=1)
