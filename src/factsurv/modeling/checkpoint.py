"""Per-epoch checkpoints: trainable weights + trainer state + checkpoint.json, written atomically.

Layout of ``results/{run}/checkpoints/epoch_{e}/``::

    adapter_model.safetensors + adapter_config.json   (lora, qlora: the LoRA weights only)
    model.safetensors                                  (full: every weight, tied ones once)
    trainer_state.pt     optimizer, scheduler, global step, RNG states
    checkpoint.json      base model (id + fingerprint), method, LoRA config, training plan, epoch, seed,
                         and the sha256 of the weights and trainer state (``files``)

:func:`read_meta` checks those sha256: a damaged or truncated file stops the job that reads it,
naming the file (checkpoints written before the sha256 were recorded are read unchecked).
A checkpoint is only ever combined with the base model and settings it was made with:
:func:`check_compatible` refuses anything else with a message naming what differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from factsurv.io import InputError, atomic_path
from factsurv.provenance import sha256_file

CHECKPOINT_JSON = "checkpoint.json"
TRAINER_STATE = "trainer_state.pt"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
FULL_WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1


class CheckpointMismatch(InputError):
    """A checkpoint does not belong to this base model / method / LoRA config / plan."""


def weights_file(method: str) -> str:
    return FULL_WEIGHTS if method == "full" else ADAPTER_WEIGHTS


def read_meta(ckpt_dir: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """checkpoint.json of a checkpoint; with ``verify``, the recorded sha256 of its files too."""
    path = Path(ckpt_dir) / CHECKPOINT_JSON
    if not path.exists():
        raise InputError(f"{ckpt_dir}: not a checkpoint ({CHECKPOINT_JSON} missing)")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: damaged checkpoint metadata ({exc}); delete {ckpt_dir} to retrain that epoch") from None
    wfile = Path(ckpt_dir) / weights_file(meta.get("method", "full"))
    if not wfile.exists():
        raise InputError(f"{ckpt_dir}: weights file {wfile.name} missing")
    if verify:
        verify_files(ckpt_dir, meta)
    return meta


def verify_files(ckpt_dir: str | os.PathLike[str], meta: dict[str, Any]) -> None:
    """Raise :class:`InputError` naming the first file whose sha256 differs from checkpoint.json's."""
    for name, digest in sorted(meta.get("files", {}).items()):
        f = Path(ckpt_dir) / name
        if not f.exists():
            raise InputError(f"{f}: missing from the checkpoint; delete {ckpt_dir} to retrain that epoch")
        actual = sha256_file(f)
        if actual != digest:
            raise InputError(
                f"{f}: damaged checkpoint file (sha256 {actual[:12]}…, checkpoint.json records {digest[:12]}…; "
                f"{f.stat().st_size} bytes): delete {ckpt_dir} to retrain that epoch"
            )


def check_compatible(meta: dict[str, Any], *, base: dict[str, Any], method: str | None = None,
                     lora: dict[str, Any] | None = None, plan: dict[str, Any] | None = None,
                     epoch: int | None = None, source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointMismatch` when ``meta`` was made from another base model, method,
    LoRA config or training plan, or for another epoch than expected."""
    problems = []
    if meta.get("base", {}).get("fingerprint") != base.get("fingerprint"):
        problems.append(
            f"base model differs: checkpoint from {meta.get('base', {}).get('name_or_path')} "
            f"({meta.get('base', {}).get('fingerprint')}), this run's base is {base.get('name_or_path')} "
            f"({base.get('fingerprint')})"
        )
    if method is not None and meta.get("method") != method:
        problems.append(f"method differs: checkpoint {meta.get('method')!r}, asked {method!r}")
    if lora is not None and method in ("lora", "qlora") and meta.get("lora") != lora:
        problems.append(f"LoRA config differs: checkpoint {meta.get('lora')}, asked {lora}")
    if plan is not None:
        old = meta.get("plan", {})
        diff = {k: (old.get(k), v) for k, v in plan.items() if old.get(k) != v}
        if diff:
            problems.append("training plan differs (checkpoint, asked): "
                            + ", ".join(f"{k}={a!r}→{b!r}" for k, (a, b) in sorted(diff.items())))
    if epoch is not None and meta.get("epoch") != epoch:
        problems.append(f"epoch differs: checkpoint is epoch {meta.get('epoch')}, expected {epoch}")
    if problems:
        raise CheckpointMismatch(f"{source}: refusing to mix checkpoints: " + "; ".join(problems))


def save(out_dir: str | os.PathLike[str], model: Any, meta: dict[str, Any], trainer_state: dict[str, Any]) -> None:
    """Write a checkpoint into a temporary folder beside ``out_dir`` and rename it into place."""
    import torch
    from safetensors.torch import save_file, save_model

    method = meta["method"]
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        if method == "full":
            save_model(model, str(tmp / FULL_WEIGHTS))
        else:
            from peft import get_peft_model_state_dict

            state = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
            save_file(state, str(tmp / ADAPTER_WEIGHTS))
            model.peft_config["default"].save_pretrained(str(tmp))
        torch.save(trainer_state, tmp / TRAINER_STATE)
        files = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / CHECKPOINT_JSON).write_text(json.dumps({"format": FORMAT_VERSION, **meta, "files": files},
                                                       indent=2, sort_keys=True, default=str) + "\n")


def load_weights(model: Any, ckpt_dir: str | os.PathLike[str], method: str) -> None:
    """Put a checkpoint's trainable weights into ``model`` (a PEFT model for lora/qlora)."""
    from safetensors.torch import load_file, load_model

    path = Path(ckpt_dir) / weights_file(method)
    if method == "full":
        try:
            missing, unexpected = load_model(model, str(path), strict=False)
        except Exception as exc:  # safetensors: a truncated or damaged file
            raise InputError(f"{path}: cannot read the checkpoint weights ({type(exc).__name__}: {exc})") from None
        if unexpected or missing:
            raise CheckpointMismatch(
                f"{path}: weights do not fit the base model (missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(unexpected)[:3]})"
            )
        return
    from peft import set_peft_model_state_dict

    device = next(model.parameters()).device
    try:
        state = load_file(str(path), device=str(device))
    except Exception as exc:  # safetensors: a truncated or damaged file
        raise InputError(f"{path}: cannot read the adapter weights ({type(exc).__name__}: {exc})") from None
    result = set_peft_model_state_dict(model, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise CheckpointMismatch(f"{path}: adapter weights do not fit the model (unexpected {unexpected[:3]})")


def load_trainer_state(ckpt_dir: str | os.PathLike[str]) -> dict[str, Any]:
    import torch

    path = Path(ckpt_dir) / TRAINER_STATE
    if not path.exists():
        raise InputError(f"{ckpt_dir}: {TRAINER_STATE} missing (cannot resume training from it)")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or damaged file
        raise InputError(f"{path}: cannot read the trainer state ({type(exc).__name__}: {exc})") from None
