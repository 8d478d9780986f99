"""Time `make demo` end to end in a fresh clone, with a per-rule breakdown.

    python bench/bench_demo.py [--clone /tmp/factsurv-demo] [--out bench/results] [--venv DIR] [--cores N]

Clones the repository's committed HEAD, runs `make demo` there (venv, install, the whole workflow,
the report) and writes bench/results/demo_<date>.json: total wall time, the time of each phase
(venv + install, workflow, report), per rule the summed and the longest job time from the
jobs' logs, the CPU (``lscpu``), and the demo's results: the banded numbers of
:func:`factsurv.analysis.demo_bands.run_metrics`, the rows of ``summary.tsv`` and
``paper_comparison.tsv`` (what README.md and docs/ quote). Target: the workflow ≤ 10 minutes on
2 cores.

``--venv DIR`` reuses an installed environment instead of ``make venv`` (the clone's own ``src``
goes first on ``PYTHONPATH``, so the jobs run the cloned code).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+")


def log_seconds(log: Path) -> float | None:
    stamps = [dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
              for line in log.read_text(errors="replace").splitlines() if (m := STAMP.match(line))]
    return (stamps[-1] - stamps[0]).total_seconds() if len(stamps) >= 2 else None


RULE = re.compile(r"factsurv: rule (\w+)")


def rule_times(clone: Path) -> dict[str, dict[str, float]]:
    """Per rule: jobs, summed and longest job time, from each job's log (its first line names the
    rule; the time is from its first to its last time stamp)."""
    per_rule: dict[str, list[float]] = defaultdict(list)
    for log in sorted((clone / "logs").rglob("*.log")):
        text = log.read_text(errors="replace")
        m = RULE.search(text[:500])
        sec = log_seconds(log)
        if m and sec is not None:
            per_rule[m.group(1)].append(sec)
    return {r: {"jobs": len(v), "sum_s": round(sum(v), 1), "max_s": round(max(v), 1)} for r, v in sorted(per_rule.items())}


def lscpu() -> dict[str, str]:
    """The CPU as ``lscpu`` names it: model, cores, and whether it has AVX-512 / AMX."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"model_name": platform.processor()}
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = fields.get("Flags", "").split()
    return {"model_name": fields.get("Model name", ""), "vendor": fields.get("Vendor ID", ""),
            "cpus": fields.get("CPU(s)", ""), "avx512f": "avx512f" in flags, "amx": any(f.startswith("amx") for f in flags),
            "avx2": "avx2" in flags}


def demo_results(clone: Path, venv: Path, env: dict[str, str], run: str = "demo") -> dict:
    """The finished demo's numbers: run_metrics (the bands' quantities) and the rows of the run's
    summary.tsv and paper_comparison.tsv, computed by the clone's code in the clone's environment."""
    code = (
        "import json, sys, pandas as pd\n"
        "from factsurv.analysis.demo_bands import run_metrics, outside_bands\n"
        f"m = run_metrics('results', {run!r}); m['outside_bands'] = outside_bands(m)\n"
        "read = lambda p: pd.read_csv(p, sep='\\t', dtype=str, keep_default_na=False).to_dict(orient='records')\n"
        f"m['summary'] = read('results/{run}/analysis/summary.tsv')\n"
        f"probe = pd.read_csv('results/{run}/probe/baseline.tsv', sep='\\t', dtype={{'fact_id': str}})\n"
        "corpus = pd.read_csv('results/models/demo/corpus_mentions.tsv', sep='\\t', dtype={'fact_id': str})\n"
        "both = corpus.merge(probe, on='fact_id')\n"
        "m['by_corpus_profile'] = {str(k): {'facts': len(g), 'known': round(float(g['greedy_correct'].mean()), 4), "
        "'latent': round(float(g['latent'].mean()), 4)} for k, g in both.groupby('profile')}\n"
        f"m['paper_comparison'] = read('results/{run}/analysis/paper_comparison.tsv')\n"
        f"sets = pd.read_csv('results/{run}/analysis/epoch_sets.tsv', sep='\\t')\n"
        "m['recall_by_epoch'] = {str(k): [round(float(c) / float(n), 4) for c, n in zip(g['correct'], g['n'])] "
        "for k, g in sets.sort_values('epoch').groupby('split')}\n"
        "pm = json.load(open('results/models/demo/pretrained/pretrain_metrics.json'))\n"
        "m['pretrain'] = {k: pm.get(k) for k in ('train_seconds', 'final_loss', 'tokens_per_s', 'total_steps', 'threads')}\n"
        "json.dump(m, sys.stdout, default=str)\n"
    )
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=clone, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clone", default="/tmp/factsurv-bench-demo")
    ap.add_argument("--out", default=str(REPO / "bench/results"))
    ap.add_argument("--venv", default=None, help="an installed environment to reuse (no make venv)")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--results-only", default=None, metavar="JSON",
                    help="recompute the 'results' of this bench file from the finished clone at --clone (no run)")
    ap.add_argument("--overlay", default=None, metavar="YAML",
                    help="a config file merged over config/config.yaml (snakemake --configfile config/config.yaml "
                         "YAML), e.g. one with models: {demo: {demo: {pretrain: {threads: 1}}}}")
    args = ap.parse_args()
    clone = Path(args.clone)
    if args.results_only:
        bench = Path(args.results_only)
        record = json.loads(bench.read_text())
        venv = Path(args.venv or clone / ".venv").resolve()
        env = dict(os.environ, PYTHONPATH=str(clone / "src")) if args.venv else dict(os.environ)
        record["results"] = demo_results(clone, venv, env)
        bench.write_text(json.dumps(record, indent=2) + "\n")
        return
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    phases = {}
    env = dict(os.environ)
    t0 = time.perf_counter()
    if args.venv:
        venv = Path(args.venv).resolve()
        env["PYTHONPATH"] = str(clone / "src")
        wheels = REPO / "resources" / "wheels"
        if wheels.is_dir() and not (clone / "resources" / "wheels").exists():
            (clone / "resources").mkdir(exist_ok=True)
            (clone / "resources" / "wheels").symlink_to(wheels.resolve())
    else:
        venv = clone / ".venv"
        subprocess.run(["make", "venv", "wheels"], cwd=clone, check=True)
    phases["venv_install_wheels_s"] = round(time.perf_counter() - t0, 1)
    snakemake = str(venv / "bin" / "snakemake")
    t1 = time.perf_counter()
    overlay = Path(args.overlay).resolve() if args.overlay else None
    overrides = ["--configfile", "config/config.yaml", str(overlay)] if overlay else []
    subprocess.run([snakemake, "--cores", str(args.cores), *overrides], cwd=clone, env=env, check=True)
    phases["workflow_s"] = round(time.perf_counter() - t1, 1)
    t2 = time.perf_counter()
    subprocess.run([snakemake, "--report", "results/report.html", *overrides], cwd=clone, env=env, check=True)
    phases["report_s"] = round(time.perf_counter() - t2, 1)
    record = {
        "what": "make demo in a fresh clone (venv + install, whole workflow on the default config, report)",
        "commit": head, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "cpu": lscpu(),
        "venv": "reused: " + str(venv) if args.venv else "made by make venv",
        "config_overlay": overlay.read_text() if overlay else None,
        "load_average_after": os.getloadavg(),
        "total_s": round(time.perf_counter() - t0, 1), **phases,
        "target_workflow_s": 600, "meets_target": phases["workflow_s"] <= 600,
        "per_rule_from_logs": rule_times(clone),
        "results": demo_results(clone, venv, env),
        "note": "per-rule times are from each log's first to last time stamp: the work after the imports; job start-up (python, torch, transformers imports, ~5 s a job) comes on top",
    }
    out = Path(args.out) / f"demo_{dt.datetime.now():%Y%m%d_%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
