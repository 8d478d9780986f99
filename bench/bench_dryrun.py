"""How long `snakemake -n --profile slurm` takes to plan a large study (target: <= 10 s).

The plan: tests/configs/scale_experiment.yaml, one experiment of 3 models x 4 designs x 5 seeds x
20 epochs (60 runs, 2,400 training + 2,400 eval jobs, with every run's analysis and the joint one,
4,000+ jobs), in an empty working directory (nothing exists yet: every job is planned). The whole
command is timed, Python start-up and parsing included, as a user waits for it. (Before issue 12:
tests/configs/scale.yaml, 5 runs, 323 jobs, target 5 s; --config tests/configs/scale.yaml.)

    .venv/bin/python bench/bench_dryrun.py [--repeat 3] [--config ...] [--out bench/results/dryrun.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
CONFIG = REPO / "tests/configs/scale_experiment.yaml"
TARGET_S = 10.0

sys.path.insert(0, str(REPO / "src"))
from factsurv.dryrun import job_stats  # noqa: E402


def dry_run(workdir: Path, config: Path = CONFIG) -> tuple[float, float, str]:
    cmd = [
        str(SNAKEMAKE), "-n", "--quiet", "rules", "--profile", str(REPO / "profiles/slurm"),
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"dry-run failed ({proc.returncode}):\n{out[-4000:]}")
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results/dryrun.json")
    ap.add_argument("--config", type=Path, default=CONFIG)
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    walls, cpus, out = [], [], ""
    with tempfile.TemporaryDirectory(prefix="factsurv-dryrun-") as tmp:
        for _ in range(args.repeat):
            wall, cpu, out = dry_run(Path(tmp), args.config.resolve())
            walls.append(round(wall, 3))
            cpus.append(round(cpu, 3))
            print(f"dry-run: {wall:.2f} s wall, {cpu:.2f} s CPU", file=sys.stderr)
    counts = job_stats(out)
    version = subprocess.run([str(SNAKEMAKE), "--version"], capture_output=True, text=True).stdout.strip()
    result = {
        "what": f"snakemake -n --quiet rules --profile profiles/slurm, {args.config.resolve().relative_to(REPO)}, "
                "empty working directory",
        "config": str(args.config.resolve().relative_to(REPO)),
        "jobs": sum(n for rule, n in counts.items() if rule != "all"),
        "jobs_by_rule": counts,
        "target_s": TARGET_S,
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "best_s": min(walls),
        "meets_target": statistics.median(walls) <= TARGET_S,
        "cpu_s": cpus,
        "note": "wall time on a shared 2-core machine depends on its load (loadavg below); cpu_s (user+sys of "
                "the snakemake process) is what the plan costs without competition",
        "snakemake": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1min_before": round(load_before, 2),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
