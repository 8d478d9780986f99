"""Experiments: the grid expands into ordinary, validated runs with readable names;
bad grids stop with an error naming the key; the model-scope keys share what can be shared."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from factsurv.config import ConfigError, validate_config
from factsurv.experiments import base_keys, deep_merge, experiment_cells

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
TINY = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())


def grid(**changes):
    spec = {
        "models": ["demo"],
        "seeds": [1, 2],
        "designs": {"lr_low": {"training": {"lr": 0.0001}}, "bs4": {"training": {"batch_size": 4}}},
        "base": {"epochs": 2, "training": {"method": "full", "lr": 0.001, "batch_size": 8}, "probe": {"k": 4}},
    }
    spec.update(changes)
    return spec


def validated(experiments, runs=None, models=None):
    cfg = copy.deepcopy(TINY)
    cfg["experiments"] = experiments
    if runs is not None:
        cfg["runs"] = runs
    if models is not None:
        cfg["models"].update(models)
    return validate_config(cfg, SCHEMA)


def test_grid_expands_into_named_validated_runs():
    cfg = validated({"demo": grid()})
    names = {"demo-lr_low-s1", "demo-lr_low-s2", "demo-bs4-s1", "demo-bs4-s2"}
    assert set(cfg["runs"]) == names | {"tiny"}  # plain runs keep working beside the grid
    run = cfg["runs"]["demo-lr_low-s2"]
    assert run["seed"] == 2 and run["model"] == "demo" and run["epochs"] == 2
    assert run["training"]["lr"] == 0.0001 and run["training"]["batch_size"] == 8  # deep merge: lr only
    assert run["training"]["method"] == "full"
    assert run["training"]["lora"]["r"] == 16  # defaults from the schema's run definition
    assert cfg["runs"]["demo-bs4-s1"]["training"] == {**run["training"], "lr": 0.001, "batch_size": 4}
    cells = experiment_cells(cfg)["demo"]
    assert [(c.design, c.seed) for c in cells] == [("lr_low", 1), ("lr_low", 2), ("bs4", 1), ("bs4", 2)]


def test_several_models_put_the_model_in_the_name_and_run_name_overrides():
    two = {"demo2": copy.deepcopy(TINY["models"]["demo"])}
    cfg = validated({"g": grid(models=["demo", "demo2"], seeds=[3])}, models=two)
    assert {"g-demo-lr_low-s3", "g-demo2-bs4-s3"} <= set(cfg["runs"])
    cfg = validated({"g": grid(seeds=[3], run_name="{design}_{seed}")})
    assert {"lr_low_3", "bs4_3"} <= set(cfg["runs"])


def test_adding_a_seed_adds_runs_and_renames_none():
    before = set(validated({"demo": grid()})["runs"])
    after = set(validated({"demo": grid(seeds=[1, 2, 3])})["runs"])
    assert after - before == {"demo-lr_low-s3", "demo-bs4-s3"} and before <= after


def test_experiment_without_plain_runs_and_without_designs():
    cfg = validated({"rep": grid(designs={"base": {}})}, runs={})
    assert set(cfg["runs"]) == {"rep-base-s1", "rep-base-s2"}
    cfg = validated({"rep": {"models": ["demo"], "seeds": [5]}}, runs={})
    assert set(cfg["runs"]) == {"rep-base-s5"}  # designs default to one called base


def test_validating_twice_is_the_same():
    cfg = validated({"demo": grid()})
    again = validate_config(copy.deepcopy(cfg), SCHEMA)
    assert again["runs"] == cfg["runs"]


@pytest.mark.parametrize(
    ("experiments", "runs", "message"),
    [
        ({"demo": grid(models=["demo", "llama"])}, None,
         r"experiments\.demo\.models\.1: 'llama' is not a key of `models` \(defined: demo\)"),
        ({"demo": grid()}, {"demo-bs4-s1": {"model": "demo"}},
         r"experiments\.demo: run name 'demo-bs4-s1' of experiments\.demo \(model demo, design bs4, seed 1\) "
         r"is already taken by runs\.demo-bs4-s1"),
        ({"a": grid(run_name="{design}{seed}"), "b": grid(run_name="{design}{seed}")}, None,
         r"run name 'lr_low1' of experiments\.b .* is already taken by experiments\.a"),
        ({"demo": grid(run_name="same")}, None, r"run name 'same' .* already taken by experiments\.demo"),
        ({"demo": grid(designs={"bad": {"training": {"lr": -1}}})}, None,
         r"experiments\.demo\.designs\.bad\.training\.lr: -1 is less than or equal to the minimum of 0"),
        ({"demo": grid(base={"epochz": 2})}, None,
         r"experiments\.demo\.base: Additional properties are not allowed \('epochz' was unexpected\)"),
        ({"demo": grid(seeds=[])}, None, r"experiments\.demo\.seeds: \[\] should be non-empty"),
        ({"demo": grid(designs={"a-b": {}})}, None, r"experiments\.demo\.designs: 'a-b' does not match"),
        ({}, {}, r"config error at runs: no runs"),
    ],
)
def test_bad_grids_name_the_key(experiments, runs, message):
    with pytest.raises(ConfigError, match=message):
        validated(experiments, runs=runs)


def test_deep_merge_replaces_lists_and_leaves_inputs_alone():
    base = {"training": {"lr": 1, "lora": {"target_modules": ["a", "b"]}}, "epochs": 2}
    design = {"training": {"lora": {"target_modules": ["c"]}}}
    out = deep_merge(base, design)
    assert out == {"training": {"lr": 1, "lora": {"target_modules": ["c"]}}, "epochs": 2}
    assert base["training"]["lora"]["target_modules"] == ["a", "b"]


def test_model_scope_keys_are_shared_unless_the_settings_differ():
    cfg = validated({"demo": grid(designs={"lr_low": {"training": {"lr": 0.0001}},
                                           "k8": {"probe": {"k": 8}},
                                           "eval_bs": {"eval": {"batch_size": 7}}})})
    keys = base_keys(cfg["runs"])
    # training settings and seeds do not matter: one epoch-0 table and one probe for these
    assert keys["demo-lr_low-s1"] == keys["demo-lr_low-s2"] == keys["tiny"]
    # another probe setting: its own probe, the same epoch-0 table
    assert keys["demo-k8-s1"][0] == keys["tiny"][0] and keys["demo-k8-s1"][1] != keys["tiny"][1]
    # another eval setting: its own epoch-0 table, and so its own probe (which reads it)
    assert keys["demo-eval_bs-s1"][0] != keys["tiny"][0] and keys["demo-eval_bs-s1"][1] != keys["tiny"][1]
    assert all(len(k) == 8 for pair in keys.values() for k in pair)
