"""Loading the base model and tokenizer a run fine-tunes: demo, local folder or Hugging Face id.

A *model spec* is the plain dict a rule passes through ``params:`` (the ``models.NAME`` block of
the config without the demo settings), plus ``name_or_path`` filled in with the folder for
``source: demo`` and ``source: path``. Heavy imports (torch, transformers) happen inside the
functions so that a job that fails on bad input fails fast.

:func:`build_trainable_model` readies the base model for a fine-tuning method (for training, and to
rebuild a checkpoint's adapters before its weights are loaded).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factsurv.io import InputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: environment variable: a node-local folder to copy the base model's files into before loading
#: (``$VARS`` expanded on the node, e.g. ``$TMPDIR``); unset or empty: load where the files are
STAGE_ENV = "FACTSURV_STAGE_DIR"
#: the fine-tuning methods (config ``training.method``)
METHODS = ("lora", "qlora", "full")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
FINGERPRINT_HEAD_BYTES = 1 << 20


class ModelLoadError(InputError):
    """The base model cannot be found or loaded as asked (the message says what to change)."""


def model_spec(spec: dict[str, Any], path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Normalise a model spec; ``path`` (the rule's base-model input) overrides ``name_or_path``."""
    out = {
        "source": spec.get("source", "path"),
        "name_or_path": str(path) if path is not None else spec.get("name_or_path"),
        "revision": spec.get("revision"),
        "local_files_only": bool(spec.get("local_files_only", False)),
        "dtype": spec.get("dtype", "auto"),
        "attn_implementation": spec.get("attn_implementation", "sdpa"),
    }
    if spec.get("quantization") is not None:
        out["quantization"] = spec["quantization"]
    if not out["name_or_path"]:
        raise ModelLoadError(f"model spec {spec!r}: no name_or_path (and no folder given)")
    if out["source"] != "hf" and not Path(out["name_or_path"]).is_dir():
        raise ModelLoadError(f"model folder not found: {out['name_or_path']}")
    return out


def select_device(device: str | None = None) -> str:
    """``cuda`` when a GPU is visible (or as asked), else ``cpu``."""
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(name: str, device: str) -> "torch.dtype":
    """The weights' dtype: ``auto`` is bfloat16 on GPU and float32 on CPU (bf16 is no faster here)."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def set_threads(threads: int) -> None:
    """Limit torch's CPU threads (0 leaves torch's choice)."""
    import torch

    if threads and threads > 0:
        torch.set_num_threads(int(threads))


def model_folder(spec: dict[str, Any]) -> Path | None:
    """The local folder holding the model's files: the folder itself, or the HF cache snapshot."""
    nop = spec["name_or_path"]
    if Path(nop).is_dir():
        return Path(nop)
    try:
        from transformers.utils import cached_file

        cfg = cached_file(
            nop, "config.json", revision=spec.get("revision"), local_files_only=True,
            _raise_exceptions_for_missing_entries=False,
        )
    except Exception:  # noqa: BLE001 - not cached: no local folder
        return None
    return Path(cfg).parent if cfg else None


def fingerprint(spec: dict[str, Any]) -> str:
    """A cheap identity of the base model's files: sha256 over config.json and, for every weight
    file, its name, size and first MiB. Two different base models (other weights, other config)
    get different fingerprints; it does not need to read a multi-GB model."""
    folder = model_folder(spec)
    h = hashlib.sha256()
    if folder is None:
        h.update(f"{spec['name_or_path']}@{spec.get('revision')}".encode())
        return "id:" + h.hexdigest()[:32]
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for p in files:
        if p.name == "config.json":
            h.update(b"config.json\0" + p.read_bytes())
        elif p.suffix in WEIGHT_SUFFIXES:
            h.update(f"{p.name}\0{p.stat().st_size}\0".encode())
            with open(p, "rb") as fh:
                h.update(fh.read(FINGERPRINT_HEAD_BYTES))
    return "sha256:" + h.hexdigest()[:32]


def stage_dir() -> Path | None:
    """The node-local staging folder of :data:`STAGE_ENV`, or None when staging is off."""
    raw = os.environ.get(STAGE_ENV, "").strip()
    if not raw:
        return None
    path = Path(os.path.expandvars(os.path.expanduser(raw)))
    if "$" in str(path):
        raise ModelLoadError(f"{STAGE_ENV}={raw!r}: {path} still holds an unset variable")
    return path


def staged_path(spec: dict[str, Any]) -> str:
    """Where :func:`load_model` reads the weights from: with :data:`STAGE_ENV` set, a copy of the
    model's folder (a local folder or its HF cache snapshot) in ``<stage>/factsurv-models/<fingerprint>``,
    made once per node (safetensors are memory-mapped, and read slowly from network filesystems);
    otherwise ``name_or_path`` itself. A hub id that is not cached locally is not staged."""
    stage = stage_dir()
    folder = model_folder(spec) if stage is not None else None
    if stage is None or folder is None:
        return spec["name_or_path"]
    files = sorted(p for p in folder.iterdir() if p.is_file())
    dest = stage / "factsurv-models" / fingerprint(spec).replace(":", "-")
    sizes = {p.name: p.stat().st_size for p in files}
    if dest.is_dir() and {p.name: p.stat().st_size for p in dest.iterdir() if p.is_file()} == sizes:
        return str(dest)
    import shutil
    import tempfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for p in files:  # follows the HF cache's symlinks into its blobs
            shutil.copyfile(p, tmp / p.name)
        if dest.exists():  # an incomplete copy of an earlier job
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if dest.is_dir() and {p.name: p.stat().st_size for p in dest.iterdir() if p.is_file()} == sizes:
            return str(dest)  # another job on this node staged it meanwhile
        raise ModelLoadError(f"cannot stage {folder} into {dest} ({STAGE_ENV}): {exc}") from exc
    return str(dest)


def load_tokenizer(spec: dict[str, Any]) -> Any:
    """The tokenizer, with a pad token (EOS when it has none) and left padding for generation."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            spec["name_or_path"], revision=spec.get("revision"),
            local_files_only=spec.get("local_files_only", False),
        )
    except OSError as exc:
        raise ModelLoadError(f"cannot load the tokenizer of {spec['name_or_path']}: {exc}") from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(
    spec: dict[str, Any],
    *,
    device: str | None = None,
    dtype: str | None = None,
    quantize_4bit: bool = False,
) -> Any:
    """The causal LM on ``device`` (default: GPU if any). ``quantize_4bit`` (or the spec's
    ``quantization: nf4``, which the model-scope jobs of a QLoRA run get) loads it in 4-bit NF4
    (QLoRA, bitsandbytes): on a GPU with bf16 compute, on the CPU (bitsandbytes' CPU kernels; slow,
    for tests and small models) with fp32 compute."""
    import torch
    from transformers import AutoModelForCausalLM

    device = select_device(device)
    quantization = spec.get("quantization")
    if quantization not in (None, "nf4"):
        raise ModelLoadError(f"model spec: quantization {quantization!r} is not one of None, 'nf4'")
    quantize_4bit = quantize_4bit or quantization == "nf4"
    kwargs: dict[str, Any] = {
        "revision": spec.get("revision"),
        "local_files_only": spec.get("local_files_only", False),
        "attn_implementation": spec.get("attn_implementation", "sdpa"),
    }
    torch_dtype = resolve_dtype(dtype or spec.get("dtype", "auto"), device)
    from factsurv.modeling.quantize import is_prequantized

    prequantized = is_prequantized(spec["name_or_path"])  # False for a hub id
    if quantize_4bit or prequantized:
        from transformers import BitsAndBytesConfig

        on_gpu = device.startswith("cuda")
        if on_gpu and not torch.cuda.is_available():
            raise ModelLoadError(f"device {device!r} asked for, but no CUDA GPU is visible")
        if not prequantized:  # a folder saved by quantize_base holds its quantization config
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16 if on_gpu else torch.float32,
            )
        kwargs["device_map"] = {"": 0 if device == "cuda" else device}
    elif device.startswith("cuda"):
        kwargs["device_map"] = {"": device}  # load straight onto the GPU, not through host memory
    try:
        model = AutoModelForCausalLM.from_pretrained(staged_path(spec), dtype=torch_dtype, **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"cannot load model {spec['name_or_path']}: {exc}") from exc
    if "device_map" not in kwargs:
        model.to(device)
    if prequantized:  # compute in the device's dtype, wherever the weights were quantized
        from bitsandbytes.nn import Linear4bit

        for module in model.modules():
            if isinstance(module, Linear4bit):
                module.compute_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return model


def describe(spec: dict[str, Any]) -> dict[str, Any]:
    """What checkpoint.json records about the base model."""
    return {
        "source": spec["source"],
        "name_or_path": spec["name_or_path"],
        "revision": spec.get("revision"),
        "fingerprint": fingerprint(spec),
    }


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


def hf_cache_has(name_or_path: str, revision: str | None = None, cache: str | os.PathLike[str] | None = None) -> bool:
    """Whether a Hugging Face model id is in the local cache with a config.json (for the
    ``local_files_only`` check at workflow start). Pure path logic: no torch/transformers import.
    ``revision`` may be a branch/tag (looked up in refs/) or a commit hash; None means ``main``."""
    root = Path(cache) if cache else hf_cache_dir()
    repo = root / ("models--" + name_or_path.replace("/", "--"))
    rev = revision or "main"
    ref = repo / "refs" / rev
    commit = ref.read_text().strip() if ref.is_file() else rev
    return (repo / "snapshots" / commit / "config.json").exists()


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def build_trainable_model(spec: dict[str, Any], method: str, lora: dict[str, Any], *,
                          device: str | None = None, gradient_checkpointing: bool = False) -> Any:
    """The base model ready for ``method``: all weights trainable (full) or LoRA adapters (lora,
    4-bit base + adapters for qlora). Full fine-tuning keeps fp32 master weights."""
    device = select_device(device)
    if method not in METHODS:
        raise InputError(f"training.method: {method!r} is not one of {METHODS}")
    dtype = "float32" if method == "full" else None
    model = load_model(spec, device=device, dtype=dtype, quantize_4bit=(method == "qlora"))
    if method == "full":
        if gradient_checkpointing:
            model.gradient_checkpointing_enable()
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    config = LoraConfig(
        r=int(lora["r"]), lora_alpha=float(lora["alpha"]), lora_dropout=float(lora["dropout"]),
        target_modules=list(lora["target_modules"]), task_type="CAUSAL_LM", bias="none",
    )
    return get_peft_model(model, config)
