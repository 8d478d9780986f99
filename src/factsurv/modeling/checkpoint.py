"""Per-epoch checkpoints: trainable weights + trainer state + checkpoint.json, written atomically.

Layout of ``results/{run}/checkpoints/epoch_{e}/``::

    adapter_model.safetensors + adapter_config.json   (lora, qlora: the LoRA weights only)
    model.safetensors                                  (full: every weight, tied ones once)
    trainer_state.pt     optimizer, scheduler, global step, RNG states
    checkpoint.json      base model (id + fingerprint), method, LoRA config, training plan, epoch, seed,
                         and the sha256 of the weights and trainer state (``files``)

:func:`read_meta` checks those sha256: a damaged or truncated file stops the job that reads it,
naming the file (checkpoints written before the sha256 were recorded are read unchecked).
:func:`problems_before_run` is the same check (plus the size of each file and the training plan's
sha256) for the workflow's pre-flight of the checkpoints its planned jobs will read, made before
the first job starts: Snakemake deletes a job's earlier outputs when it starts the job, so a
damaged checkpoint found by the job itself would cost them.
A checkpoint is only ever combined with the base model and settings it was made with:
:func:`check_compatible` refuses anything else with a message naming what differs.
"""

from __future__ import annotations

import json
import os
import re
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
        raise InputError(f"{path}: damaged checkpoint metadata ({exc}): {remedy(ckpt_dir)}") from None
    wfile = Path(ckpt_dir) / weights_file(meta.get("method", "full"))
    if not wfile.exists():
        raise InputError(f"{ckpt_dir}: weights file {wfile.name} missing: {remedy(ckpt_dir)}")
    if verify:
        verify_files(ckpt_dir, meta)
    return meta


#: files up to this size are hashed by the pre-flight (problems_before_run); larger ones are compared
#: by size there and hashed by the job that reads them
PREFLIGHT_HASH_LIMIT = 256 * 1024 * 1024

_CHECKPOINT_PATH = re.compile(r"(?:.*/)?results/(?P<run>[^/]+)/checkpoints/epoch_(?P<epoch>\d+)/?")


def remedy(ckpt_dir: str | os.PathLike[str]) -> str:
    """What to do about a damaged checkpoint: which folder to delete and what re-runs then."""
    m = _CHECKPOINT_PATH.fullmatch(str(ckpt_dir))
    if m is None:
        return f"delete {ckpt_dir} and train that epoch again"
    run, epoch = m.group("run"), int(m.group("epoch"))
    return (f"delete {ckpt_dir} (rm -r {ckpt_dir}); the next run then re-trains epoch {epoch} of run {run} "
            f"(train_epoch) and every later epoch, re-evaluates them (eval_epoch, control_epoch) and "
            f"redoes the run's analysis")


def verify_files(ckpt_dir: str | os.PathLike[str], meta: dict[str, Any], *,
                 hash_limit: float = float("inf")) -> None:
    """Raise :class:`InputError` naming the first file whose size or sha256 differs from
    checkpoint.json's (files larger than ``hash_limit`` bytes: the size only)."""
    sizes = meta.get("sizes", {})
    for name, digest in sorted(meta.get("files", {}).items()):
        f = Path(ckpt_dir) / name
        if not f.exists():
            raise InputError(f"{f}: missing from the checkpoint: {remedy(ckpt_dir)}")
        size = f.stat().st_size
        if name in sizes and size != sizes[name]:
            raise InputError(f"{f}: damaged checkpoint file ({size} bytes, checkpoint.json records "
                             f"{sizes[name]}: truncated or overwritten): {remedy(ckpt_dir)}")
        if size > hash_limit:
            continue
        actual = sha256_file(f)
        if actual != digest:
            raise InputError(
                f"{f}: damaged checkpoint file (sha256 {actual[:12]}…, checkpoint.json records {digest[:12]}…; "
                f"{size} bytes): {remedy(ckpt_dir)}"
            )


def problems_before_run(ckpt_dir: str | os.PathLike[str], *, plan_path: str | os.PathLike[str] | None = None,
                        hash_limit: float = PREFLIGHT_HASH_LIMIT) -> str | None:
    """Why a job must not read the checkpoint ``ckpt_dir`` (None: it may): checkpoint.json missing
    or unreadable, a weights file missing, a file of another size or sha256 than recorded, or a
    training plan (``plan_path``, the run's train_plan.tsv as it stands) other than the one it was
    trained on. The message names the file, the folder to delete and what re-runs."""
    try:
        meta = read_meta(ckpt_dir, verify=False)
        verify_files(ckpt_dir, meta, hash_limit=hash_limit)
    except InputError as exc:
        text = str(exc)
        return text if "delete " in text else f"{text}: {remedy(ckpt_dir)}"
    recorded = (meta.get("plan") or {}).get("train_plan_sha256")
    if plan_path is not None and recorded and Path(plan_path).is_file():
        actual = sha256_file(Path(plan_path))
        if actual != recorded:
            return (f"{Path(ckpt_dir) / CHECKPOINT_JSON}: trained on another training plan (plan sha256 "
                    f"{recorded[:12]}…, {plan_path} is {actual[:12]}…): {remedy(ckpt_dir)}")
    return None


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
        sizes = {f.name: f.stat().st_size for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / CHECKPOINT_JSON).write_text(json.dumps({"format": FORMAT_VERSION, **meta, "files": files, "sizes": sizes},
                                                       indent=2, sort_keys=True, default=str) + "\n")


def load_weights(model: Any, ckpt_dir: str | os.PathLike[str], method: str) -> None:
    """Put a checkpoint's trainable weights into ``model`` (a PEFT model for lora/qlora)."""
    from safetensors.torch import load_file, load_model

    path = Path(ckpt_dir) / weights_file(method)
    if method == "full":
        try:
            missing, unexpected = load_model(model, str(path), strict=False)
        except Exception as exc:  # safetensors: a truncated or damaged file
            raise InputError(f"{path}: cannot read the checkpoint weights ({type(exc).__name__}: {exc}): "
                             f"{remedy(ckpt_dir)}") from None
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
        raise InputError(f"{path}: cannot read the adapter weights ({type(exc).__name__}: {exc}): "
                         f"{remedy(ckpt_dir)}") from None
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
        raise InputError(f"{path}: cannot read the trainer state ({type(exc).__name__}: {exc}): "
                         f"{remedy(ckpt_dir)}") from None
