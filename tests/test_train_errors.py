"""Bad input to training: other base model, other LoRA config, QLoRA without GPU, empty split."""

from __future__ import annotations

import pytest
import torch

from factsurv.config import ConfigError
from factsurv.io import InputError, write_tsv
from factsurv.modeling.checkpoint import CheckpointMismatch
from factsurv.modeling.evaluate import evaluate_epoch
from factsurv.prompts import PromptSettings
from factsurv.modeling.loading import ModelLoadError, model_spec
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.modeling.train import TrainSettings, train_epoch

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}


def settings(method="lora", lora=LORA, **kw):
    return TrainSettings.from_params({"method": method, "lr": 1e-3, "schedule_epochs": 3, "batch_size": 8,
                                      "lora": lora, **kw}, seed=1, threads=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("err")
    a = build_tiny_model(root / "a", seed=0)
    b = build_tiny_model(root / "b", seed=1)
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=8, n_heldout=2), facts)
    spec_a = model_spec({"source": "path"}, a)
    ck = root / "ck" / "epoch_1"
    train_epoch(spec_a, facts, 1, ck, settings(), PROMPT)
    return root, spec_a, model_spec({"source": "path"}, b), facts, ck


def test_checkpoint_from_other_base_model_is_refused(setup, tmp_path):
    root, _, spec_b, facts, ck = setup
    with pytest.raises(CheckpointMismatch, match="base model differs"):
        train_epoch(spec_b, facts, 2, tmp_path / "epoch_2", settings(), PROMPT, previous=ck)
    with pytest.raises(CheckpointMismatch, match="base model differs"):
        evaluate_epoch(spec_b, facts, 1, PROMPT, checkpoint_dir=ck, batch_size=4, max_new_tokens=8)
    assert not (tmp_path / "epoch_2").exists()


def test_checkpoint_with_other_lora_config_is_refused(setup, tmp_path):
    root, spec_a, _, facts, ck = setup
    with pytest.raises(CheckpointMismatch, match="LoRA config differs"):
        train_epoch(spec_a, facts, 2, tmp_path / "e2", settings(lora={**LORA, "r": 8}), PROMPT, previous=ck)
    with pytest.raises(CheckpointMismatch, match="method differs"):
        train_epoch(spec_a, facts, 2, tmp_path / "e2", settings(method="full"), PROMPT, previous=ck)
    with pytest.raises(CheckpointMismatch, match="training plan differs"):
        train_epoch(spec_a, facts, 2, tmp_path / "e2", settings(lr=5e-4), PROMPT, previous=ck)


def test_checkpoint_of_wrong_epoch_is_refused(setup, tmp_path):
    root, spec_a, _, facts, ck = setup
    with pytest.raises(CheckpointMismatch, match="expected 2"):
        train_epoch(spec_a, facts, 3, tmp_path / "e3", settings(), PROMPT, previous=ck)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_qlora_on_a_missing_gpu_is_a_clear_error(setup, tmp_path):
    """QLoRA runs on the CPU (tests/test_real_model.py); asking for CUDA where there is none stops."""
    root, spec_a, _, facts, _ = setup
    with pytest.raises(ModelLoadError, match="no CUDA GPU is visible"):
        train_epoch(spec_a, facts, 1, tmp_path / "q1", settings(method="qlora"), PROMPT, device="cuda")
    assert not (tmp_path / "q1").exists()


def test_empty_training_split_is_a_clear_error(setup, tmp_path):
    root, spec_a, _, _, _ = setup
    facts = tmp_path / "facts.tsv"
    df = synthetic_facts(n_train=0, n_heldout=3)
    write_tsv(df, facts)
    with pytest.raises(InputError, match="training split is empty"):
        train_epoch(spec_a, facts, 1, tmp_path / "e1", settings(), PROMPT)
    assert not (tmp_path / "e1").exists()


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="model folder not found"):
        model_spec({"source": "path", "name_or_path": str(tmp_path / "nope")})


def test_unknown_method_is_refused():
    with pytest.raises(ConfigError, match="training.method: 'dora'"):
        TrainSettings.from_params({"method": "dora"}, seed=1, threads=0)


def test_hf_cache_check_is_pure_path_logic(tmp_path):
    from factsurv.modeling.loading import hf_cache_has

    snap = tmp_path / "models--org--m" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    assert not hf_cache_has("org/m", cache=tmp_path)
    (snap / "config.json").write_text("{}")
    (tmp_path / "models--org--m" / "refs").mkdir()
    (tmp_path / "models--org--m" / "refs" / "main").write_text("abc123\n")
    assert hf_cache_has("org/m", cache=tmp_path)
    assert hf_cache_has("org/m", revision="abc123", cache=tmp_path)
    assert not hf_cache_has("org/m", revision="v2", cache=tmp_path)
    assert not hf_cache_has("org/other", cache=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_checkpoint_stops_the_job_naming_the_file(setup, tmp_path, damage):
    """checkpoint.json records the sha256 of the weights: a truncated or altered weights file
    stops the next epoch and the evaluation with the file named (not a safetensors traceback)."""
    import json
    import shutil

    root, spec_a, _, facts, ck = setup
    bad = tmp_path / "epoch_1"
    shutil.copytree(ck, bad)
    assert "adapter_model.safetensors" in json.loads((bad / "checkpoint.json").read_text())["files"]
    weights = bad / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(InputError, match=r"adapter_model\.safetensors: damaged checkpoint file"):
        train_epoch(spec_a, facts, 2, tmp_path / "epoch_2", settings(), PROMPT, previous=bad)
    with pytest.raises(InputError, match=r"adapter_model\.safetensors: damaged checkpoint file"):
        evaluate_epoch(spec_a, facts, 1, PROMPT, checkpoint_dir=bad, batch_size=4, max_new_tokens=8)
    assert not (tmp_path / "epoch_2").exists()
