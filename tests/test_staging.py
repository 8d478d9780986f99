"""Node-local staging of the base model (FACTSURV_STAGE_DIR): the weights are copied once per node
and loaded from there; the model, its fingerprint and what checkpoint.json records do not change."""

from __future__ import annotations

import pytest
import torch

from factsurv.modeling import loading
from support.tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("staging") / "m")


def test_unset_or_empty_loads_in_place(tiny_folder, monkeypatch):
    spec = loading.model_spec({"source": "path"}, tiny_folder)
    monkeypatch.delenv(loading.STAGE_ENV, raising=False)
    assert loading.staged_path(spec) == str(tiny_folder)
    monkeypatch.setenv(loading.STAGE_ENV, "  ")
    assert loading.staged_path(spec) == str(tiny_folder)


def test_the_weights_are_copied_once_and_loaded_from_the_stage(tiny_folder, tmp_path, monkeypatch):
    spec = loading.model_spec({"source": "path"}, tiny_folder)
    plain = loading.load_model(spec, device="cpu")
    monkeypatch.setenv("NODE_SCRATCH", str(tmp_path / "node"))
    monkeypatch.setenv(loading.STAGE_ENV, "$NODE_SCRATCH/stage")  # expanded on the node
    calls = []
    orig = loading.staged_path
    monkeypatch.setattr(loading, "staged_path", lambda s: calls.append(orig(s)) or calls[-1])
    staged = loading.load_model(spec, device="cpu")
    dest = tmp_path / "node/stage/factsurv-models" / loading.fingerprint(spec).replace(":", "-")
    assert calls == [str(dest)]
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in tiny_folder.iterdir() if p.is_file())
    weights = dest / "model.safetensors"
    assert weights.read_bytes() == (tiny_folder / "model.safetensors").read_bytes()
    for a, b in zip(plain.state_dict().values(), staged.state_dict().values()):
        assert torch.equal(a, b)
    mtime = weights.stat().st_mtime_ns
    loading.load_model(spec, device="cpu")  # the second job on the node copies nothing
    assert weights.stat().st_mtime_ns == mtime
    assert loading.describe(spec)["name_or_path"] == str(tiny_folder)  # provenance names the source


def test_an_incomplete_copy_is_replaced(tiny_folder, tmp_path, monkeypatch):
    spec = loading.model_spec({"source": "path"}, tiny_folder)
    monkeypatch.setenv(loading.STAGE_ENV, str(tmp_path))
    dest = tmp_path / "factsurv-models" / loading.fingerprint(spec).replace(":", "-")
    dest.mkdir(parents=True)
    (dest / "model.safetensors").write_bytes(b"half")  # a job killed while copying
    assert loading.staged_path(spec) == str(dest)
    assert (dest / "model.safetensors").read_bytes() == (tiny_folder / "model.safetensors").read_bytes()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_an_unset_variable_in_the_stage_is_an_error(tiny_folder, monkeypatch):
    monkeypatch.delenv("FACTSURV_NO_SUCH_VAR", raising=False)
    monkeypatch.setenv(loading.STAGE_ENV, "$FACTSURV_NO_SUCH_VAR/x")
    with pytest.raises(loading.ModelLoadError, match="FACTSURV_STAGE_DIR.*unset variable"):
        loading.staged_path(loading.model_spec({"source": "path"}, tiny_folder))
