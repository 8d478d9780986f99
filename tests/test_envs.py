"""One pinned list of versions: envs/*.yaml are generated from envs/requirements.txt and must not drift."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import yaml

from factsurv.envs import GROUPS, REQUIREMENTS, main, read_pins, render

REPO = Path(__file__).resolve().parents[1]


def test_conda_envs_match_the_pins():
    assert main(["--check"]) == 0, "envs/*.yaml are out of date: run `make envs`"


def test_every_rule_env_exists_and_pins_exact_versions():
    pins = read_pins()
    for group in GROUPS:
        env = yaml.safe_load((REPO / "envs" / f"{group}.yaml").read_text())
        pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
        assert pip and all(re.fullmatch(r"[\w.-]+==[\w.+-]+", p) for p in pip)
        assert {p.split("==")[0]: p.split("==")[1] for p in pip}.items() <= pins.items()


def test_rules_reference_existing_envs():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for name in re.findall(r'"\.\./\.\./envs/(\w+)\.yaml"', smk.read_text()):
            assert name in GROUPS, f"{smk.name} uses envs/{name}.yaml, which is not generated"


def test_venv_has_the_pinned_versions():
    for name, version in read_pins().items():
        installed = importlib.metadata.version(name)
        assert installed.split("+")[0] == version, f"{name}: {installed} installed, {version} pinned in {REQUIREMENTS}"


def test_render_refuses_missing_pins():
    import pytest

    with pytest.raises(ValueError, match="no pin for"):
        render("model", {"torch": "1"})
