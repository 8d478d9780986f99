"""Time `make demo` end to end in a fresh clone, with a per-rule breakdown.

    python bench/bench_demo.py [--clone /tmp/factsurv-demo] [--out bench/results]

Clones the repository's committed HEAD, runs `make demo` there (venv, install, the whole workflow,
the report) and writes bench/results/demo_<date>.json: total wall time, the time of each phase
(venv + install, workflow, report), and per rule the summed and the longest job time from the
jobs' logs. Target (issue: model stage): the workflow ≤ 10 minutes on 2 cores.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clone", default="/tmp/factsurv-bench-demo")
    ap.add_argument("--out", default=str(REPO / "bench/results"))
    args = ap.parse_args()
    clone = Path(args.clone)
    if clone.exists():
        shutil.rmtree(clone)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    phases = {}
    t0 = time.perf_counter()
    subprocess.run(["make", "venv", "wheels"], cwd=clone, check=True)
    phases["venv_install_wheels_s"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    subprocess.run([str(clone / ".venv/bin/snakemake"), "--cores", "all"], cwd=clone, check=True)
    phases["workflow_s"] = round(time.perf_counter() - t1, 1)
    t2 = time.perf_counter()
    subprocess.run([str(clone / ".venv/bin/snakemake"), "--report", "results/report.html"], cwd=clone, check=True)
    phases["report_s"] = round(time.perf_counter() - t2, 1)
    record = {
        "what": "make demo in a fresh clone (venv + install, whole workflow on the default config, report)",
        "commit": head, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "total_s": round(time.perf_counter() - t0, 1), **phases,
        "target_workflow_s": 600, "meets_target": phases["workflow_s"] <= 600,
        "per_rule_from_logs": rule_times(clone),
        "note": "per-rule times are from each log's first to last time stamp: the work after the imports; job start-up (python, torch, transformers imports, ~5 s a job) comes on top",
    }
    out = Path(args.out) / f"demo_{dt.datetime.now():%Y%m%d_%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
