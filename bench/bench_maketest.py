"""Time `make test` in a fresh clone: the whole run, pytest's own time, the outcome and the slowest tests.

    python bench/bench_maketest.py [--clone /tmp/factsurv-bench-maketest] [--venv DIR] [--workers N]
                                   [--commit REV] [--label before]

Clones the committed ``--commit`` (default HEAD), runs ``make test`` there (``--venv DIR``: reuse an
installed environment, with the clone's ``src`` first on ``PYTHONPATH``, and run pytest directly
instead of make), and writes ``bench/results/maketest_<date>_<time>.json``: wall time, pytest's time,
the summary line, the workers pytest-xdist used (``--workers``: pytest ``-n``), the load average
before and after, the CPU, and the slowest tests pytest printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_demo import lscpu  # noqa: E402


def parse(out: str) -> dict:
    """pytest's summary line, its seconds, and the slowest-durations table of ``out``."""
    summary = [ln for ln in out.splitlines() if re.match(r"^=+ .*(passed|failed).* in [\d.]+s", ln)]
    seconds = re.search(r" in ([\d.]+)s", summary[-1]).group(1) if summary else None
    slowest = re.findall(r"^([\d.]+)s (setup|call|teardown)\s+(\S+)$", out, re.M)
    workers = re.search(r"created: (\d+)/\d+ workers", out)
    return {
        "summary": summary[-1].strip("= ") if summary else None,
        "pytest_s": float(seconds) if seconds else None,
        "workers": int(workers.group(1)) if workers else 1,
        "slowest": [{"s": float(s), "phase": p, "test": t} for s, p, t in slowest],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clone", default="/tmp/factsurv-bench-maketest")
    ap.add_argument("--venv", default=None, help="an installed environment to reuse (pytest directly, no make)")
    ap.add_argument("--workers", default=None, help="pytest -n (default: pyproject's addopts)")
    ap.add_argument("--commit", default="HEAD")
    ap.add_argument("--label", default="", help="a word for the file name and record (e.g. before, after)")
    ap.add_argument("--out", default=str(REPO / "bench/results"))
    args = ap.parse_args()
    clone = Path(args.clone)
    if clone.exists():
        shutil.rmtree(clone)
    commit = subprocess.run(["git", "rev-parse", args.commit], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=clone, check=True)
    env = dict(os.environ)
    extra = ["-n", args.workers] if args.workers else []
    if args.venv:
        venv = Path(args.venv).resolve()
        (clone / ".venv").symlink_to(venv)
        wheels = REPO / "resources/wheels"
        if wheels.is_dir():  # `make wheels` would fetch them again
            shutil.copytree(wheels, clone / "resources/wheels")
        env["PYTHONPATH"] = str(clone / "src")
        cmd = [str(venv / "bin/python"), "-m", "pytest", "--durations=40", *extra]
    else:
        cmd = ["make", "test"] + ([f"PYTEST_ARGS=-n {args.workers}"] if args.workers else [])
    load_before = os.getloadavg()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    stamp = dt.datetime.now(dt.timezone.utc)
    record = {
        "what": "make test in a fresh clone" + (" (venv reused, pytest directly)" if args.venv else ""),
        "label": args.label,
        "commit": commit,
        "date": stamp.isoformat(timespec="seconds"),
        "cpu": lscpu(),
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **parse(out),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"maketest_{stamp:%Y%m%d_%H%M}{'_' + args.label if args.label else ''}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    (clone / "maketest.log").write_text(out)
    print(json.dumps({k: v for k, v in record.items() if k != "slowest"}, indent=2))
    print(f"wrote {path}; the whole output is in {clone / 'maketest.log'}")


if __name__ == "__main__":
    main()
