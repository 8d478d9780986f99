"""The config schema (workflow/schemas/config.schema.yaml) as data: loading it with its local
``$ref`` inlined, and a validator that fills the schema's defaults while it validates. The bottom
layer of validation: ``factsurv.experiments`` (grids into runs) and ``factsurv.config`` (the whole
config, cross-key rules) build on it, and ``factsurv.preflight`` (files, caches) on those.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def _extend_with_default(validator_class: type) -> type:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict, instance: Any, schema: dict) -> Iterable[Any]:
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


DefaultFillingValidator = _extend_with_default(jsonschema.Draft7Validator)


def key_path(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return inline_refs(yaml.safe_load(fh))


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local ``$ref: "#/definitions/x"`` by the definition itself.

    The default-filling validator sees ``default`` only on the subschema in place, so a default
    written in a definition must be inlined to take effect. (The schema has no recursive refs.)
    """
    definitions = schema.get("definitions", {})

    def walk(node: Any, depth: int = 0) -> Any:
        if depth > 50:
            raise ValueError("schema references nest too deeply (a recursive $ref?)")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                target = copy.deepcopy(definitions[ref.split("/")[-1]])
                rest = {k: v for k, v in node.items() if k != "$ref"}
                target.update(rest)
                return walk(target, depth + 1)
            return {k: walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        return node

    out = {k: walk(v) for k, v in schema.items() if k != "definitions"}
    out["definitions"] = definitions
    return out


def describe_error(err: jsonschema.ValidationError) -> str:
    where = key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"config error at {where}: {err.message}{hint}"
    return f"config error at {where}: {err.message}"
