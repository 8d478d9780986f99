"""Experiments: a grid in the config that expands into ordinary runs.

``experiments.<name>: {models: [...], seeds: [...], designs: {<design>: {...}}, base: {...}}`` gives
one run per model x design x seed. A run's settings are ``base`` with the design's mapping merged in
(deep: ``{training: {lr: 1e-4}}`` changes only the learning rate), then ``model`` and ``seed``. Each
expanded run is validated against the schema's run definition (defaults filled from it), so it is
exactly what a hand-written entry of ``runs:`` would be; errors name the experiment and the design.

Names are readable and stable: ``{experiment}-{design}-s{seed}`` (``demo-mixed-s2``), with the model
in front of the design when the experiment lists more than one model (``demo-llama-mixed-s2``), or
``run_name`` when given. Adding a seed adds runs and renames none.

Also here: the keys of the model-scope tables (the epoch-0 evaluation and the probe of a base model
are shared by every run on that model with the same settings; a run whose settings differ gets its
own table under another key).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class Cell:
    """One run of an experiment: where it sits in the grid."""

    experiment: str
    run: str
    model: str
    design: str
    seed: int


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def run_name(spec: dict[str, Any], experiment: str, model: str, design: str, seed: int) -> str:
    template = spec.get("run_name")
    if template is None:
        template = "{experiment}-{model}-{design}-s{seed}" if len(spec["models"]) > 1 else "{experiment}-{design}-s{seed}"
    return template.format(experiment=experiment, model=model, design=design, seed=seed)


def experiment_cells(config: dict[str, Any]) -> dict[str, list[Cell]]:
    """Every experiment's runs in grid order (models, then designs, then seeds as configured)."""
    out: dict[str, list[Cell]] = {}
    for name, spec in config.get("experiments", {}).items():
        designs = spec.get("designs") or {}
        out[name] = [
            Cell(name, run_name(spec, name, model, design, seed), model, design, seed)
            for model in spec["models"]
            for design in designs
            for seed in spec["seeds"]
        ]
    return out


def expand_experiments(config: dict[str, Any], run_schema: dict[str, Any]) -> list[str]:
    """Add every experiment's runs to ``config["runs"]`` (in place; defaults filled from
    ``run_schema``, the schema's run definition); return the errors, each naming its key.

    Errors: a model that is not a key of ``models``; a run name given twice (by two cells, two
    experiments, or an experiment and ``runs:``); a name that is no valid run name; a merged run
    whose settings the schema refuses. Nothing is added when there is an error.
    """
    from factsurv.schema import DefaultFillingValidator, describe_error, key_path

    errors: list[str] = []
    models = config.get("models", {})
    runs = config.setdefault("runs", {})
    added: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {run: f"runs.{run}" for run in runs}
    validator = DefaultFillingValidator(run_schema)
    for name, cells in experiment_cells(config).items():
        spec = config["experiments"][name]
        for i, model in enumerate(spec["models"]):
            if model not in models:
                errors.append(
                    f"config error at experiments.{name}.models.{i}: {model!r} is not a key of `models` "
                    f"(defined: {', '.join(models) or 'none'})"
                )
        if errors:
            continue
        for cell in cells:
            where = f"experiments.{name} (model {cell.model}, design {cell.design}, seed {cell.seed})"
            run = deep_merge(spec.get("base") or {}, spec["designs"][cell.design] or {})
            run["model"] = cell.model
            run["seed"] = cell.seed
            bad = sorted(validator.iter_errors(run), key=lambda e: list(map(str, e.absolute_path)))
            if not bad and runs.get(cell.run) == run and cell.run not in added:
                continue  # this config was expanded before (validated twice): the same run, no clash
            if cell.run in owner:
                errors.append(
                    f"config error at experiments.{name}: run name {cell.run!r} of {where} is already "
                    f"taken by {owner[cell.run]} (rename the experiment, a design, or set run_name)"
                )
                continue
            owner[cell.run] = where
            if not _valid_run_name(cell.run):
                errors.append(
                    f"config error at experiments.{name}: run name {cell.run!r} of {where} must start with a "
                    "letter or digit and hold only letters, digits, '_', '.', '-'"
                )
                continue
            for err in bad:
                key = key_path(err.absolute_path)
                part = "base" if key.split(".")[0] not in _design_keys(spec["designs"][cell.design]) else f"designs.{cell.design}"
                full = f"experiments.{name}.{part}" + ("" if key == "(top level)" else f".{key}")
                errors.append(describe_error(err).replace(f"config error at {key}", f"config error at {full}", 1))
            added[cell.run] = run
    if not errors:
        runs.update(added)
    return errors


def _design_keys(design: dict[str, Any] | None) -> set[str]:
    return set(design or {})


def _valid_run_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) is not None


def settings_key(value: Any) -> str:
    """A short, stable key of a settings value (8 hex digits of the SHA-1 of its canonical JSON)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def base_quantization(run: dict[str, Any]) -> str | None:
    """How the run's base model is held in memory when it differs from the model's own dtype:
    ``"nf4"`` (bitsandbytes 4-bit) for ``training.method: qlora``, else None. Epochs >= 1 of a QLoRA
    run are scored on the NF4 base, so its epoch 0 (eval, probe, control) must be too: otherwise
    quantization itself would show up as learning or forgetting at epoch 1."""
    return "nf4" if run["training"]["method"] == "qlora" else None


def base_eval_settings(run: dict[str, Any]) -> dict[str, Any]:
    """What the model-scope evaluation of epoch 0 depends on besides the model, facts and prompt:
    the eval settings, the thread count, and the base's quantization when it has one (a LoRA and
    a full run share their epoch 0; a QLoRA run gets its own, on the NF4 base)."""
    settings = {"eval": run["eval"], "threads": run["threads"]}
    quantization = base_quantization(run)
    if quantization is not None:
        settings["quantization"] = quantization
    return settings


def base_probe_settings(run: dict[str, Any]) -> dict[str, Any]:
    """What the model-scope probe depends on besides the model, facts and prompt (the greedy pass it
    reads included)."""
    return {"probe": run["probe"], "threads": run["threads"], "greedy": settings_key(base_eval_settings(run))}


def base_control_settings(run: dict[str, Any]) -> dict[str, Any]:
    """What the model-scope control probe of epoch 0 depends on besides the model, the control items
    and their decoding settings (which are the same for every run): the thread count and the base's
    quantization."""
    settings: dict[str, Any] = {"threads": run["threads"]}
    quantization = base_quantization(run)
    if quantization is not None:
        settings["quantization"] = quantization
    return settings


def base_control_key(run: dict[str, Any]) -> str:
    """The key of a run's model-scope control table of epoch 0 (results/models/{model}/control_{key}/)."""
    return settings_key(base_control_settings(run))


def base_keys(runs: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Run name → (key of its epoch-0 table, key of its probe table) under results/models/{model}/."""
    return {
        name: (settings_key(base_eval_settings(run)), settings_key(base_probe_settings(run)))
        for name, run in runs.items()
    }
