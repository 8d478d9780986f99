"""Runtimes per GPU rule: the benchmark files map back to their rules, and the suggestion is the
longest measured job with a margin."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from factsurv import runtimes

SAMPLE = {"run": "paper-lora-s1", "model": "llama", "key": "0123abcd"}
MODEL_SCOPE = {"eval_base_model", "probe_baseline", "control_base_model", "quantize_base"}


def benchmark_paths() -> dict[str, str]:
    """Rule → its benchmark path relative to benchmarks/, with sample wildcard values."""
    out = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for m in re.finditer(r"^rule (\w+):\n(?:(?!^rule ).*\n)*?    benchmark:\n\s+\"([^\"]+)\"", smk.read_text(), re.M):
            rule, path = m.group(1), m.group(2)
            values = dict(SAMPLE, epoch="0" if rule in MODEL_SCOPE else "3", onto="hpo")
            out[rule] = re.sub(r"\{(\w+)\}", lambda w: values[w.group(1)], path).removeprefix("benchmarks/")
    return out


def test_every_gpu_rule_benchmark_maps_back_to_its_rule():
    paths = benchmark_paths()
    assert set(runtimes.BENCHMARKS) <= set(paths), set(runtimes.BENCHMARKS) - set(paths)
    for rule, path in paths.items():
        expected = rule if rule in runtimes.BENCHMARKS else None
        assert runtimes.rule_of(path) == expected, (rule, path)


def test_the_schema_names_exactly_the_rules_with_benchmarks():
    import yaml

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    prop = schema["definitions"]["resources"]["properties"]["runtime_by_rule"]
    assert set(prop["propertyNames"]["enum"]) == set(runtimes.BENCHMARKS)
    profile = (REPO / "profiles/slurm/config.yaml").read_text()
    gpu_rules = re.search(r"GPU_RULES = \[(.*)\]", profile).group(1)
    assert set(re.findall(r'"(\w+)"', gpu_rules)) == set(runtimes.BENCHMARKS)


def test_suggest_from_a_pilot_runs_benchmarks(tmp_path, capsys):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {
        "paper-lora-s1/train_epoch_1.tsv": 100.0, "paper-lora-s1/train_epoch_2.tsv": 1210.0,
        "paper-lora-s2/train_epoch_1.tsv": 300.0, "paper-lora-s1/eval_epoch_1.tsv": 40.0,
        "models/llama/probe_0123abcd/probe_baseline.tsv": 3000.0,
        "models/llama/eval_0123abcd/eval_epoch_0.tsv": 50.0,
        "parse_terms/hpo.tsv": 9999.0,  # not a GPU rule: left out
    }
    for rel, s in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(header + f"{s}\t0:00:00\t1\t1\t1\t1\t0\t0\t0\t0\n")
    seconds = runtimes.measured_seconds(tmp_path)
    assert seconds == {"train_epoch": [100.0, 1210.0, 300.0], "eval_epoch": [40.0], "probe_baseline": [3000.0],
                       "eval_base_model": [50.0]}
    assert runtimes.suggest(seconds) == {"eval_base_model": 5, "eval_epoch": 5, "probe_baseline": 75, "train_epoch": 31}
    assert runtimes.suggest(seconds, margin=1.0, floor_min=1) == {"eval_base_model": 1, "eval_epoch": 1,
                                                                   "probe_baseline": 50, "train_epoch": 21}
    with pytest.raises(ValueError, match="margin"):
        runtimes.suggest(seconds, margin=0.5)
    assert runtimes.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "runtime_by_rule:\n" in printed and "    train_epoch: 31  # longest 1210 s of 3 jobs" in printed


def test_a_folder_without_gpu_benchmarks_says_so(tmp_path, capsys):
    assert runtimes.main([str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert runtimes.main([str(tmp_path)]) == 2
    assert "no benchmark file of a GPU rule" in capsys.readouterr().err


def test_rule_runtime_falls_back_to_the_runs_runtime():
    run = {"resources": {"runtime": 120, "runtime_by_rule": {"eval_epoch": 15}}}
    assert runtimes.rule_runtime(run, "eval_epoch") == 15
    assert runtimes.rule_runtime(run, "train_epoch") == 120
    assert runtimes.rule_runtime({"resources": {"runtime": 60}}, "eval_epoch") == 60
