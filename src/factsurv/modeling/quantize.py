"""A base model quantized once to 4-bit NF4 (bitsandbytes) and saved, for every QLoRA job of that
model (rule ``quantize_base``): the jobs then load the 4-bit weights instead of reading and
quantizing the 16-bit model again each time (16 GB for Llama-3.1-8B, ~5 GB in NF4).

The NF4 folder is what the QLoRA runs train on and what their epoch 0 is scored on; it holds the
quantized weights (with their quantization config), the tokenizer and ``provenance.json`` (the
source folder's fingerprint, the settings, library versions). Loading it gives exactly the model
that quantizing at load time gives (tests/test_quantize.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from factsurv.io import write_json
from factsurv.modeling import loading

log = logging.getLogger("factsurv")


def is_prequantized(folder: str | os.PathLike[str] | None) -> bool:
    """Whether a model folder holds weights saved already quantized (a ``quantization_config`` in
    its config.json)."""
    if folder is None:
        return False
    config = Path(folder) / "config.json"
    if not config.is_file():
        return False
    try:
        return "quantization_config" in json.loads(config.read_text())
    except ValueError:
        return False


def quantize_base(spec: dict[str, Any], out_dir: str | os.PathLike[str], *, threads: int = 0,
                  device: str | None = None) -> dict[str, Any]:
    """Load ``spec``'s model quantized to 4-bit NF4 and save it, with its tokenizer, in ``out_dir``
    (staged beside it and renamed: a failed job leaves nothing); returns the provenance record."""
    from factsurv.provenance import package_versions, provenance

    loading.set_threads(threads)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    model = loading.load_model(spec, device=device, quantize_4bit=True)
    tokenizer = loading.load_tokenizer(spec)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".nf4-") as tmp_name:
        staged = Path(tmp_name) / "nf4"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        weights = sum(p.stat().st_size for p in staged.iterdir() if p.suffix == ".safetensors")
        record = provenance(dict(spec), source_fingerprint=loading.fingerprint(spec), quantization="nf4",
                            double_quant=True, weight_bytes=weights,
                            quantizer_versions=package_versions(("transformers", "bitsandbytes", "torch", "safetensors")))
        write_json(record, staged / "provenance.json")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staged.rename(out_dir)
    log.info("saved the NF4 base of %s in %s (%.1f MB of weights)", spec["name_or_path"], out_dir, weights / 1e6)
    return record
