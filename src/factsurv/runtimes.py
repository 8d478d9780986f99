"""Runtimes per GPU rule: what a run's jobs ask Slurm for, and a suggestion from measured benchmarks.

Every GPU rule asks ``resources.runtime`` minutes of its run unless ``resources.runtime_by_rule``
names the rule. Under the grouped Slurm profile a job per run and epoch asks the sum of its steps'
runtimes, so one runtime sized for the longest step (the K-sample probe) over-asks for every
training, evaluation and control step. :func:`suggest` turns the ``benchmark:`` files of a pilot
run (Snakemake writes one per job, with its wall time ``s``) into a ``runtime_by_rule`` block:

    python -m factsurv.runtimes benchmarks/ --margin 1.5
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

#: rule → the path of its benchmark files under ``benchmarks/`` (the rules' ``benchmark:``
#: directives with their wildcards as ``*``; tests/test_runtimes.py checks them against the rules)
BENCHMARKS = {
    "quantize_base": "models/*/quantize_base.tsv",
    "eval_base_model": "models/*/eval_*/eval_epoch_0.tsv",
    "probe_baseline": "models/*/probe_*/probe_baseline.tsv",
    "control_base_model": "models/*/control_*/control_epoch_0.tsv",
    "train_epoch": "*/train_epoch_*.tsv",
    "eval_epoch": "*/eval_epoch_*.tsv",
    "control_epoch": "*/control_epoch_*.tsv",
    "param_updates": "*/param_updates.tsv",
    "restore_updates": "*/restore_updates.tsv",
    "gradient_trace": "*/gradient_trace.tsv",
    "attention_mass": "*/attention_mass.tsv",
}


def rule_runtime(run: Mapping[str, Any], rule: str) -> int:
    """Minutes a job of ``rule`` asks for in run ``run`` (a validated run config)."""
    res = run["resources"]
    return int(res.get("runtime_by_rule", {}).get(rule, res["runtime"]))


def rule_of(relative: str) -> str | None:
    """The GPU rule whose benchmark file this is (a path relative to ``benchmarks/``), or None."""
    for rule, pattern in BENCHMARKS.items():
        if relative.count("/") == pattern.count("/") and fnmatch(relative, pattern):
            return rule
    return None


def measured_seconds(benchmarks: Path) -> dict[str, list[float]]:
    """Rule → the wall times (column ``s``) of its benchmark files under ``benchmarks``."""
    import pandas as pd

    out: dict[str, list[float]] = {}
    for path in sorted(benchmarks.rglob("*.tsv")):
        rule = rule_of(path.relative_to(benchmarks).as_posix())
        if rule is None:
            continue
        table = pd.read_csv(path, sep="\t")
        if "s" not in table.columns or table.empty:
            raise ValueError(f"{path}: not a Snakemake benchmark file (no column 's')")
        out.setdefault(rule, []).extend(float(v) for v in table["s"])
    return out


def suggest(seconds: Mapping[str, list[float]], *, margin: float = 1.5, floor_min: int = 5) -> dict[str, int]:
    """Rule → minutes: the longest measured job times ``margin``, rounded up, at least ``floor_min``."""
    if margin < 1:
        raise ValueError(f"margin {margin} < 1 would ask for less than was measured")
    return {rule: max(floor_min, math.ceil(max(s) * margin / 60)) for rule, s in sorted(seconds.items()) if s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m factsurv.runtimes", description=__doc__.splitlines()[0])
    ap.add_argument("benchmarks", type=Path, nargs="?", default=Path("benchmarks"))
    ap.add_argument("--margin", type=float, default=1.5, help="factor on the longest measured job")
    ap.add_argument("--floor", type=int, default=5, help="the fewest minutes a job asks for")
    args = ap.parse_args(argv)
    if not args.benchmarks.is_dir():
        print(f"{args.benchmarks}: no such folder (run from the workflow's directory after a pilot run)",
              file=sys.stderr)
        return 2
    seconds = measured_seconds(args.benchmarks)
    if not seconds:
        print(f"{args.benchmarks}: no benchmark file of a GPU rule", file=sys.stderr)
        return 2
    minutes = suggest(seconds, margin=args.margin, floor_min=args.floor)
    print(f"# from {sum(map(len, seconds.values()))} jobs in {args.benchmarks}: longest job x {args.margin:g}")
    print("resources:\n  runtime_by_rule:")
    for rule, m in minutes.items():
        print(f"    {rule}: {m}  # longest {max(seconds[rule]):.0f} s of {len(seconds[rule])} jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
