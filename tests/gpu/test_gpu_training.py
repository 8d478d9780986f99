"""GPU tests of the training code (skipped without CUDA): QLoRA 4-bit training changes the adapter
and only the adapter; LoRA-bf16 and QLoRA resume exactly (within a stated tolerance) on the GPU.

    pytest tests/gpu -v          # on a machine with a CUDA GPU and bitsandbytes

Tolerances: on the GPU the same process is not bit-for-bit reproducible in general (cuBLAS / SDPA
backward kernels may reorder reductions), so a resumed run is compared with an uninterrupted one at
RESUME_ATOL on the adapter weights (LoRA weights are ~1e-2 after training; lr 1e-2 here), and the
comparison is checked not to be vacuous (training moved the weights by far more than the tolerance).
"""

from __future__ import annotations

import pytest
import torch

from factsurv.io import write_tsv
from factsurv.modeling import checkpoint as ckpt
from factsurv.prompts import PromptSettings
from factsurv.modeling.loading import model_spec
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.modeling.train import EpochRecipe, TrainSettings, train_epoch, train_epochs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible)"),
]

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
RESUME_ATOL = 1e-4
MOVED_MIN = 1e-3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_tiny")
    model = build_tiny_model(root / "model", hidden_size=128, intermediate_size=256, num_layers=2,
                             num_heads=4, vocab_size=400)
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=32, n_heldout=8), facts)
    return model_spec({"source": "path"}, model), facts


def _settings(method: str) -> TrainSettings:
    return TrainSettings.from_params(
        {"method": method, "lr": 1e-2, "schedule_epochs": 4, "warmup_ratio": 0.1, "batch_size": 8,
         "grad_accum": 1, "lora": {"r": 8, "alpha": 16, "dropout": 0.05,
                                   "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"]}},
        seed=7, threads=0,
    )


def _weights(ckpt_dir, method):
    from safetensors.torch import load_file

    return load_file(str(ckpt_dir / ckpt.weights_file(method)))


def _max_diff(a, b):
    assert a.keys() == b.keys() and a
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_qlora_step_changes_the_adapter_and_only_the_adapter(tiny):
    import bitsandbytes as bnb
    from factsurv.modeling.facts import read_facts

    spec, facts = tiny
    recipe = EpochRecipe(spec, read_facts(facts), _settings("qlora"), PROMPT, device="cuda")
    recipe.setup(None)
    model = recipe.model
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules()), "base not loaded in 4-bit"
    assert next(p for p in model.parameters() if p.requires_grad).is_cuda
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in n for n in lora), sorted(lora)[:5]
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()
              if not p.requires_grad and p.dtype in (torch.float32, torch.bfloat16, torch.float16)}
    quant = {n: p.detach().clone() for n, p in model.named_parameters() if p.dtype == torch.uint8}
    assert quant, "no packed 4-bit weights found"
    stats = recipe.run_epoch(1)
    assert stats["step"] == 4 and stats["tokens"] > 0 and stats["loss"] == stats["loss"]  # not NaN
    after = dict(model.named_parameters())
    moved = max(float((after[n].detach() - v).abs().max()) for n, v in lora.items())
    assert moved > MOVED_MIN
    # lora_B starts at zero: after one epoch it is not
    assert any(float(after[n].detach().abs().max()) > 0 for n in lora if "lora_B" in n)
    for n, v in frozen.items():
        assert torch.equal(after[n].detach(), v), f"frozen weight {n} changed"
    for n, v in quant.items():
        assert torch.equal(after[n].detach(), v), f"4-bit weight {n} changed"


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_resume_on_gpu_equals_one_process(tiny, tmp_path, method):
    spec, facts = tiny
    s = _settings(method)
    train_epochs(spec, facts, 3, tmp_path / "one", s, PROMPT, device="cuda")
    prev = None
    for e in (1, 2, 3):
        out = tmp_path / "split" / f"epoch_{e}"
        train_epoch(spec, facts, e, out, s, PROMPT, previous=prev, device="cuda")
        prev = out
    a, b = _weights(tmp_path / "one" / "epoch_3", method), _weights(prev, method)
    diff = _max_diff(a, b)
    moved = _max_diff(a, _weights(tmp_path / "one" / "epoch_1", method))
    print(f"{method}: resumed vs one process max |diff| {diff:.3g}; epoch 1 -> 3 moved {moved:.3g}")
    assert moved > MOVED_MIN
    assert diff <= RESUME_ATOL
    meta = ckpt.read_meta(prev)
    assert meta["epoch"] == 3 and meta["method"] == method


def test_lora_on_gpu_trains_in_bf16_with_sdpa(tiny):
    from factsurv.modeling.facts import read_facts

    spec, facts = tiny
    recipe = EpochRecipe(spec, read_facts(facts), _settings("lora"), PROMPT, device="cuda")
    recipe.setup(None)
    base = recipe.model.get_base_model()
    assert base.config._attn_implementation == "sdpa"
    frozen = [p for p in recipe.model.parameters() if not p.requires_grad]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    assert recipe.autocast  # bf16 autocast on for LoRA on CUDA


def test_probe_noise_is_the_same_on_the_gpu():
    """The probe's Gumbel numbers come from integer arithmetic on the device: the same bits on CUDA
    as on the CPU, so a fact's samples do not depend on where the probe ran (given the same logits)."""
    from factsurv.modeling.generation import gumbel_noise, row_word

    words = [row_word(0, f"hpo:HP:{i:07d}", i % 4, 5) for i in range(16)]
    cpu = gumbel_noise(words, 128256, "cpu")
    gpu = gumbel_noise(words, 128256, "cuda").cpu()
    assert torch.allclose(cpu, gpu, rtol=1e-6, atol=1e-6)
    assert (cpu.argmax(-1) == gpu.argmax(-1)).all()
