"""The NF4 base saved once per model for QLoRA (rule quantize_base): loading it gives exactly the
model that quantizing at load time gives, and QLoRA trains on it."""

from __future__ import annotations

import json

import torch

from factsurv.modeling import loading
from factsurv.modeling.quantize import is_prequantized, quantize_base
from support.tiny_models import build_tiny_model


def test_the_saved_nf4_base_is_the_model_quantized_at_load(tmp_path):
    from bitsandbytes.nn import Linear4bit

    spec = loading.model_spec({"source": "path"}, build_tiny_model(tmp_path / "m", hidden_size=64,
                                                                    intermediate_size=128))
    record = quantize_base(spec, tmp_path / "nf4", device="cpu")
    assert is_prequantized(tmp_path / "nf4") and not is_prequantized(spec["name_or_path"])
    assert record["quantization"] == "nf4" and record["source_fingerprint"] == loading.fingerprint(spec)
    assert json.loads((tmp_path / "nf4/provenance.json").read_text())["weight_bytes"] == record["weight_bytes"]
    at_load = loading.load_model(spec, device="cpu", quantize_4bit=True)
    nf4 = loading.model_spec({"source": "path", "quantization": "nf4"}, tmp_path / "nf4")
    saved = loading.load_model(nf4, device="cpu")
    assert any(isinstance(m, Linear4bit) for m in saved.modules())
    ids = torch.tensor([[1, 5, 9, 3, 7]])
    with torch.no_grad():
        assert torch.equal(at_load(input_ids=ids).logits, saved(input_ids=ids).logits)
    tok = loading.load_tokenizer(nf4)  # the tokenizer travels with it
    assert tok.pad_token_id is not None
    # QLoRA on the saved base: the adapter trains, the 4-bit weights stay
    model = loading.build_trainable_model(nf4, "qlora", {"r": 4, "alpha": 8, "dropout": 0.0,
                                                          "target_modules": ["q_proj", "v_proj"]}, device="cpu")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_a_qlora_run_plans_one_nf4_base_and_reads_it_everywhere(tmp_path):
    """A QLoRA run beside a full run on the same model: quantize_base once; the QLoRA run's train,
    eval and control jobs and its epoch-0 jobs (their own key) read the NF4 folder, the full run's
    the 16-bit model; no parameter analyses for the QLoRA run (they need the float base)."""
    import copy
    import re

    import yaml
    from conftest import REPO, make_workdir, run_snakemake

    wd = make_workdir(tmp_path / "wf")
    cfg = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    q = copy.deepcopy(cfg["runs"]["tiny"])
    q["training"] = {**q["training"], "method": "qlora",
                     "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}}
    cfg["runs"]["tq"] = q
    path = wd / "qlora.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = run_snakemake(wd, "-n", "--configfile", str(path)).stdout
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", out)
    jobs = [(re.match(r"(?:local)?rule (\w+):", b).group(1), b) for b in blocks if re.match(r"(?:local)?rule \w+:", b)]
    rules = [r for r, _ in jobs]
    assert rules.count("quantize_base") == 1
    assert rules.count("eval_base_model") == 2 and rules.count("control_base_model") == 2  # two keys
    nf4 = "results/models/demo/nf4"
    for rule, block in jobs:
        if rule in ("train_epoch", "eval_epoch", "control_epoch"):
            assert (nf4 in block) == ("results/tq/" in block), block
        if rule in ("param_updates", "restore_updates"):
            assert "results/tq/" not in block, block
    assert sum(1 for r, b in jobs if r == "eval_base_model" and nf4 in b) == 1
