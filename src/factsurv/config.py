"""Validation of the workflow configuration against workflow/schemas/config.schema.yaml.

The layers, each importing only the ones below it: ``factsurv.schema`` (the schema, its defaults)
← ``factsurv.experiments`` (grids into runs) ← this module (the whole config, cross-key rules) ←
``factsurv.preflight`` (files, caches, the plan's checkpoints).

Defaults are filled from the schema (the one place they live); errors name the key, e.g.
``config error at runs.demo.training.lr: -1 is less than or equal to the minimum of 0``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from factsurv.experiments import expand_experiments
from factsurv.schema import DefaultFillingValidator, describe_error, inline_refs, load_schema  # noqa: F401


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key."""


def validate_config(config: dict[str, Any], schema: dict[str, Any] | str | Path) -> dict[str, Any]:
    """Fill defaults into ``config`` (in place) and validate it; raise :class:`ConfigError`.

    Besides the schema, checks that cross-references hold: every run names a defined model, every
    ontology in ``sample.counts`` is defined, and at least one fact is requested. Experiments expand
    into ``runs`` here (factsurv.experiments), so every reader of the config sees their runs.
    """
    schema = load_schema(schema) if not isinstance(schema, dict) else inline_refs(schema)
    validator = DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    messages = [describe_error(e) for e in errors]
    if not messages:
        run_schema = inline_refs({**schema["definitions"]["run"], "definitions": schema["definitions"]})
        messages = expand_experiments(config, run_schema)
    if not messages:
        messages = semantic_errors(config)
    if messages:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(messages))
    coerce_integers(config, schema)
    return config


def config_file_problem(path: str | Path) -> str | None:
    """One line naming ``path`` when the file cannot be a config (not there, empty, not YAML, or
    YAML whose top level is a list or a scalar instead of a mapping of keys), else None.

    For the Snakefile's default config file; Snakemake reads a ``--configfile`` itself before the
    Snakefile, and says "Config file must be given as JSON or YAML with keys at top level" without
    naming the file (snakemake/snakemake#2439)."""
    import yaml

    where = f"config error in {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{where}: file not found"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{where}: cannot read it ({type(exc).__name__}: {exc})"
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        return f"{where}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})"
    if isinstance(value, dict):
        return None
    what = ("empty (no keys)" if value is None else
            f"a YAML {'list' if isinstance(value, list) else type(value).__name__}, not a mapping of keys")
    return f"{where}: the file is {what}; a config is a mapping (ontologies:, sample:, models:, runs:, …)"


def refuse_unknown_keys(values: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    """Raise :class:`ConfigError` naming the keys of the block ``values`` (config ``section``) that
    are not in ``known``: the one error of every settings class's ``from_params``."""
    known = sorted(known)
    unknown = sorted(set(values) - set(known), key=str)
    if unknown:
        raise ConfigError(f"config error at {section}: unknown key(s) {unknown} (known: {', '.join(known)})")


def settings_from(cls: type, cfg: Mapping[str, Any], section: str) -> Any:
    """An instance of the dataclass ``cls`` from the config block ``cfg`` (``section`` names it in
    the error): every field must be there, since defaults come from the config schema only, and no
    other key; else :class:`ConfigError`."""
    from dataclasses import fields

    names = [f.name for f in fields(cls)]
    refuse_unknown_keys(cfg, names, section)
    missing = [k for k in names if k not in cfg]
    if missing:
        raise ConfigError(f"config error at {section}: missing key(s) {missing} "
                          "(defaults come from the config schema)")
    return cls(**{k: cfg[k] for k in names})


def canonical(value: Any) -> Any:
    """Mappings with sorted keys (recursively), so that params compare equal whatever the key order
    in the config file (Snakemake compares params by their repr). Lists keep their order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def coerce_integers(node: Any, schema: dict[str, Any] | None) -> Any:
    """One type per numeric key (in place for mappings and lists): integral floats (``20.0``) become
    ints wherever the schema says ``integer`` (it already refused ``20.5``), and ints become floats
    wherever it says ``number`` (``passes: 1`` and ``1.0`` are one value). Without it ``epochs:
    16.0`` breaks ``range()`` and ``k: 20.0`` re-runs the probe of ``k: 20``."""
    if not isinstance(schema, dict):
        return node
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and "number" not in types and isinstance(node, float) and node.is_integer():
        return int(node)
    if "number" in types and isinstance(node, int) and not isinstance(node, bool):
        return float(node)
    if isinstance(node, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key in node:
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            node[key] = coerce_integers(node[key], sub)
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        node[:] = [coerce_integers(v, schema["items"]) for v in node]
    return node


def models_missing_from_cache(config: dict[str, Any]) -> list[str]:
    """``hf`` models with ``local_files_only`` that are not in the Hugging Face cache (checked by
    the pre-flight: a warning in a dry-run, an error before a real run)."""
    out: list[str] = []
    for name, model in config.get("models", {}).items():
        if model.get("source") == "hf" and model.get("local_files_only") and model.get("name_or_path"):
            from factsurv.modeling.loading import hf_cache_dir, hf_cache_has

            if not hf_cache_has(model["name_or_path"], model.get("revision")):
                out.append(
                    f"config error at models.{name}.name_or_path: {model['name_or_path']!r} "
                    f"(revision {model.get('revision') or 'main'}) is not in the Hugging Face cache "
                    f"{hf_cache_dir()} and local_files_only is true: download it first "
                    f"(huggingface-cli download {model['name_or_path']}; docs/study.md) "
                    "or set HF_HOME to the cache that has it"
                )
    return out


def semantic_errors(config: dict[str, Any]) -> list[str]:
    out: list[str] = []
    ontologies = config.get("ontologies", {})
    models = config.get("models", {})
    if not config.get("runs"):
        out.append("config error at runs: no runs (define at least one under `runs` or `experiments`)")
    for name, run in config.get("runs", {}).items():
        if run.get("model") not in models:
            out.append(
                f"config error at runs.{name}.model: {run.get('model')!r} is not a key of `models` "
                f"(defined: {', '.join(models) or 'none'})"
            )
    counts = config.get("sample", {}).get("counts", {})
    facts = config.get("facts", {})
    from_table = facts.get("source") == "table"
    if from_table:
        if not facts.get("tables"):
            out.append("config error at facts.tables: list at least one table when facts.source is 'table'")
        for i, table in enumerate(facts.get("tables", [])):
            if not Path(table["path"]).is_file():
                out.append(f"config error at facts.tables.{i}.path: file not found: {table['path']}")
            if table.get("ontology") is not None and table["ontology"] not in ontologies:
                out.append(
                    f"config error at facts.tables.{i}.ontology: {table['ontology']!r} is not a key of `ontologies` "
                    f"(defined: {', '.join(ontologies)})"
                )
    elif not counts:
        out.append("config error at sample.counts: required when facts.source is 'sample' (the default)")
    for onto in counts:
        if onto not in ontologies:
            out.append(
                f"config error at sample.counts.{onto}: not a key of `ontologies` "
                f"(defined: {', '.join(ontologies)})"
            )
    total = sum(int(c.get("train", 0)) + int(c.get("heldout", 0)) for c in counts.values())
    if counts and total == 0 and not from_table:
        out.append("config error at sample.counts: no facts requested (every train and heldout count is 0)")
    for onto, spec in ontologies.items():
        for part in ("obo", "annotations"):
            src = spec.get(part)
            if src and src.get("source") == "path" and not Path(src["path"]).exists():
                out.append(f"config error at ontologies.{onto}.{part}.path: file not found: {src['path']}")
    for name, model in models.items():
        if model.get("source") == "path" and not Path(model.get("name_or_path", "")).is_dir():
            out.append(
                f"config error at models.{name}.name_or_path: model folder not found: {model.get('name_or_path')}"
            )
    lit = config.get("literature", {})
    if lit.get("source") == "table":
        if not lit.get("table"):
            out.append("config error at literature.table: required when literature.source is 'table'")
        elif not Path(lit["table"]).exists():
            out.append(f"config error at literature.table: file not found: {lit['table']}")
    if lit.get("source") == "corpus" and not lit.get("corpus"):
        out.append("config error at literature.corpus: list the text files or folders to count in")
    return out


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def section_defaults(section: str, schema: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The defaults of one config block, filled from the schema: a top-level key (``analysis``) or a
    dotted path through properties and definitions (``definitions.demo_model.corpus``).

    For code and tests that build settings outside a workflow run: the schema stays the one place
    a default is written.
    """
    full = _parsed_schema(str(schema))
    parts = section.split(".")
    sub = full[parts[0]][parts[1]] if parts[0] == "definitions" else full["properties"][parts[0]]
    for part in parts[2 if parts[0] == "definitions" else 1:]:
        sub = sub["properties"][part]
    instance: dict[str, Any] = {}
    errors = list(DefaultFillingValidator(sub).iter_errors(instance))
    if errors:
        raise ConfigError("; ".join(describe_error(e) for e in errors))
    return copy.deepcopy(instance)  # nothing the caller changes reaches the cached schema


@lru_cache(maxsize=4)
def _parsed_schema(path: str) -> dict[str, Any]:
    """The schema file parsed once per process (a job builds several settings from it)."""
    return load_schema(path)
