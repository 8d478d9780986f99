"""How long `snakemake -n --profile slurm` takes to plan a large study (target: <= 10 s).

The plan: tests/configs/scale_experiment.yaml, one experiment of 3 models x 4 designs x 5 seeds x
20 epochs (60 runs, 2,400 training + 2,400 eval jobs, with every run's analysis and the joint one,
4,000+ jobs), in an empty working directory (nothing exists yet: every job is planned). The whole
command is timed, Python start-up and parsing included, as a user waits for it. (Before issue 12:
tests/configs/scale.yaml, 5 runs, 323 jobs, target 5 s; --config tests/configs/scale.yaml.)

    .venv/bin/python bench/bench_dryrun.py [--repeat 3] [--config ...] [--out bench/results/dryrun.json]

Besides the whole plan it measures the same plan without the control probe (control.enabled:
false: 1,260 fewer jobs), the fixed cost (start-up, parsing, config validation: the plan of
results/facts/facts.tsv only), so that the per-job cost can be told apart from it, and a reference
(bare three-rule chains with as many jobs: Snakemake's own floor on this machine at that moment).
The machine is shared: the 1-minute load average is recorded before every dry-run. Every dry-run
starts in a new empty folder.
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


def dry_run(workdir: Path, config: Path = CONFIG, targets: tuple[str, ...] = ()) -> tuple[float, float, str]:
    cmd = [
        str(SNAKEMAKE), "-n", "--quiet", "rules", "--profile", str(REPO / "profiles/slurm"),
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config), *(["--", *targets] if targets else []),
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


# The reference: what Snakemake itself needs per job on this machine at the moment, for a workflow
# of bare three-rule chains (a script rule with one or two inputs and a log each; no params,
# resources or input functions) with as many jobs as the plan. The machine's speed varies by tens
# of per cent from one minute to the next (shared cores), so the plan's time is best read beside it.
REFERENCE_SNAKEFILE = """
import os
N = int(os.environ["FACTSURV_BENCH_CHAINS"])
rule all:
    input: expand("r/{i}/c.tsv", i=range(N))
rule a:
    output: "r/{i}/a.tsv"
    log: "logs/{i}/a.log"
    script: "s.py"
rule b:
    input: "r/{i}/a.tsv"
    output: "r/{i}/b.tsv"
    log: "logs/{i}/b.log"
    script: "s.py"
rule c:
    input: "r/{i}/b.tsv", "r/{i}/a.tsv"
    output: "r/{i}/c.tsv"
    log: "logs/{i}/c.log"
    script: "s.py"
"""


def reference(tmp: Path, jobs: int, repeat: int) -> dict:
    wf = tmp / "reference"
    wf.mkdir()
    (wf / "Snakefile").write_text(REFERENCE_SNAKEFILE)
    (wf / "s.py").write_text("pass\n")
    chains = max(1, round(jobs / 3))
    walls, cpus = [], []
    for _ in range(repeat):
        cmd = [str(SNAKEMAKE), "-n", "--quiet", "rules", "--profile", str(REPO / "profiles/slurm"),
               "--snakefile", str(wf / "Snakefile"), "--directory", tempfile.mkdtemp(dir=tmp)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=wf,
                              env=dict(os.environ, FACTSURV_BENCH_CHAINS=str(chains)))
        walls.append(round(time.perf_counter() - t0, 3))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3))
        if proc.returncode != 0:
            sys.exit(f"reference dry-run failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        print(f"reference dry-run ({3 * chains} jobs): {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU", file=sys.stderr)
    return {
        "what": f"{chains} chains of 3 bare script rules ({3 * chains} jobs), the same command and profile",
        "jobs": 3 * chains,
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "cpu_s": cpus,
        "median_cpu_s": statistics.median(cpus),
    }


def without_control(config: Path, tmp: Path) -> Path:
    """A copy of ``config`` with control.enabled: false (relative paths in it stay valid: the
    dry-run reads them from the working directory)."""
    import yaml

    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault("control", {})["enabled"] = False
    out = tmp / f"{config.stem}_no_control.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def measure(workdir: Path, config: Path, repeat: int, targets: tuple[str, ...] = ()) -> dict:
    """``repeat`` dry-runs, each in a new empty folder under ``workdir`` (a dry-run leaves
    .snakemake/iocache behind)."""
    walls, cpus, loads, out = [], [], [], ""
    for _ in range(repeat):
        loads.append(round(os.getloadavg()[0], 2))
        wall, cpu, out = dry_run(Path(tempfile.mkdtemp(dir=workdir)), config, targets)
        walls.append(round(wall, 3))
        cpus.append(round(cpu, 3))
        print(f"dry-run {config.name} {' '.join(targets)}: {wall:.2f} s wall, {cpu:.2f} s CPU, load {loads[-1]}",
              file=sys.stderr)
    counts = job_stats(out)
    return {
        "jobs": sum(n for rule, n in counts.items() if rule != "all"),
        "jobs_by_rule": counts,
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "best_s": min(walls),
        "cpu_s": cpus,
        "median_cpu_s": statistics.median(cpus),
        "loadavg_1min": loads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results/dryrun.json")
    ap.add_argument("--config", type=Path, default=CONFIG)
    args = ap.parse_args()
    config = args.config.resolve()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="factsurv-dryrun-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        full = measure(work, config, args.repeat)
        # the fixed cost: start-up, parsing, config validation and pre-flight, a plan of ~10 jobs
        fixed = measure(work, config, args.repeat, targets=("results/facts/facts.tsv",))
        no_control = measure(work, without_control(config, Path(tmp)), args.repeat)
        ref = reference(Path(tmp), full["jobs"], args.repeat)
    version = subprocess.run([str(SNAKEMAKE), "--version"], capture_output=True, text=True).stdout.strip()
    per_job_ms = (full["median_cpu_s"] - fixed["median_cpu_s"]) / max(1, full["jobs"] - fixed["jobs"]) * 1000
    result = {
        "what": f"snakemake -n --quiet rules --profile profiles/slurm, {config.relative_to(REPO)}, "
                "empty working directory",
        "config": str(config.relative_to(REPO)),
        "jobs": full["jobs"],
        "jobs_by_rule": full["jobs_by_rule"],
        "target_s": TARGET_S,
        "wall_s": full["wall_s"],
        "median_s": full["median_s"],
        "best_s": full["best_s"],
        "meets_target": full["median_s"] <= TARGET_S,
        "cpu_s": full["cpu_s"],
        "seconds": {
            "median_wall_s": full["median_s"],
            "median_cpu_s": full["median_cpu_s"],
            "fixed_cpu_s": fixed["median_cpu_s"],
            "fixed_what": f"the same command for results/facts/facts.tsv only ({fixed['jobs']} jobs): start-up, "
                          "parsing, config validation, pre-flight",
            "per_job_cpu_ms": round(per_job_ms, 3),
            "fixed_wall_s": fixed["wall_s"],
        },
        "without_control": {
            "what": "the same plan with control.enabled: false (no control_epoch, control_accuracy, control_items)",
            **{k: no_control[k] for k in ("jobs", "wall_s", "median_s", "best_s", "cpu_s", "median_cpu_s",
                                          "loadavg_1min")},
            "meets_target": no_control["median_s"] <= TARGET_S,
        },
        "reference": {**ref, "plan_over_reference": round(full["median_s"] / ref["median_s"], 2)},
        "note": "wall time on a shared 2-core machine depends on its load (loadavg_1min: before each dry-run); cpu_s "
                "(user+sys of the snakemake process) is what the plan costs without competition, though other "
                "processes on the same cores slow it too",
        "snakemake": version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min": full["loadavg_1min"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
