"""The GPU-only code paths, as far as a CPU can check them: autocast for every method on GPU, the
NF4 base of a QLoRA run's epoch 0, float32 logits for greedy choice."""

from __future__ import annotations

import pytest
import torch

from factsurv.modeling import loading
from factsurv.modeling.generation import fp32_logits
from support.tiny_models import build_tiny_model
from factsurv.modeling.train import autocast_enabled


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_bf16_autocast_on_gpu_for_every_method_never_on_cpu(method):
    assert autocast_enabled("cuda", method) is True
    assert autocast_enabled("cuda:0", method) is True
    assert autocast_enabled("cpu", method) is False


def test_autocast_refuses_an_unknown_method():
    with pytest.raises(Exception, match="not one of"):
        autocast_enabled("cuda", "qlora8")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("gpu_paths") / "m", hidden_size=64, intermediate_size=128)


def test_the_nf4_base_of_a_qlora_epoch_0_is_held_in_4_bit(tiny_folder):
    """The model-scope jobs of a QLoRA run get ``quantization: nf4`` in their model spec, and the
    base they score is the 4-bit one the run trains on (bitsandbytes runs NF4 on the CPU too)."""
    from bitsandbytes.nn import Linear4bit

    spec = loading.model_spec({"source": "path", "quantization": "nf4"}, tiny_folder)
    assert spec["quantization"] == "nf4"
    model = loading.load_model(spec, device="cpu")
    assert any(isinstance(m, Linear4bit) for m in model.modules())
    plain = loading.load_model(loading.model_spec({"source": "path"}, tiny_folder), device="cpu")
    assert not any(isinstance(m, Linear4bit) for m in plain.modules())
    assert "quantization" not in loading.model_spec({"source": "path"}, tiny_folder)  # the plain spec is as before
    with pytest.raises(loading.ModelLoadError, match="quantization 'int8'"):
        loading.load_model(loading.model_spec({"source": "path", "quantization": "int8"}, tiny_folder), device="cpu")


def test_greedy_choice_sees_float32_logits_of_a_bf16_model(tiny_folder):
    """bf16 logits round to steps of up to 1/8 and the top two tokens tie; in fp32_logits the head
    computes in float32 (from the same bf16 weights) and is back to bf16 afterwards."""
    spec = loading.model_spec({"source": "path", "dtype": "bfloat16"}, tiny_folder)
    model = loading.load_model(spec, device="cpu")
    ids = torch.tensor([[1, 5, 9, 12, 7, 3]])
    with torch.inference_mode():
        plain = model(input_ids=ids).logits
        with fp32_logits(model):
            wide = model(input_ids=ids).logits
            hidden = model.model(input_ids=ids).last_hidden_state
        again = model(input_ids=ids).logits
    assert plain.dtype == torch.bfloat16 and again.dtype == torch.bfloat16
    assert wide.dtype == torch.float32
    expected = torch.nn.functional.linear(hidden.float(), model.get_output_embeddings().weight.float())
    assert torch.allclose(wide, expected, atol=1e-5)
    assert torch.equal(plain, again)
    assert not torch.equal(wide, plain.float())  # the float32 logits are not the rounded ones
