"""Is the demo's science a property of the demo, or of one machine? Pretraining seeds × thread counts.

    .venv/bin/python bench/demo_robustness.py [--seeds 0,1,2] [--threads 1,2] [--workdir DIR]

Runs the real workflow once on a copy of the default config (config/config.yaml) in which the demo
model and run are repeated for every (pretraining seed, thread count): model ``demo-s{seed}-t{t}``
is the demo model with ``demo.seed = seed`` and ``pretrain.threads = t``, and run
``demo-s{seed}-t{t}`` fine-tunes it with the demo run's settings and ``threads = t`` (so every
model job of the case uses t threads). Facts, corpus and everything else are the default's.

Writes ``bench/results/demo_robustness_<date>.json``: per case the baseline known and latent
shares, mastery levels, trained recall at epoch 0 and at the last epoch, the univariable HR(latent)
for acquisition with its 95 % CI (all trained facts, and HPO alone), generalization and
degradation events; the bands of :mod:`factsurv.analysis.demo_bands` and which cases miss which;
ranges over the cases (what the README quotes); and the pretraining time per case.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from factsurv.analysis.demo_bands import BANDS, outside_bands, run_metrics  # noqa: E402

COPY = ("Snakefile", "workflow", "config", "envs", "profiles")


def workdir(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in COPY:
        target = dest / item
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        src = ROOT / item
        shutil.copytree(src, target) if src.is_dir() else shutil.copy(src, target)
    if not (dest / "src").exists():
        (dest / "src").symlink_to(ROOT / "src")
    wheels = ROOT / "resources" / "wheels"
    if wheels.is_dir() and not (dest / "resources" / "wheels").exists():
        (dest / "resources").mkdir(exist_ok=True)
        (dest / "resources" / "wheels").symlink_to(wheels)
    return dest


def case_config(seeds: list[int], threads: list[int]) -> tuple[dict, list[str]]:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    demo_model = cfg["models"]["demo"]
    demo_run = cfg["runs"]["demo"]
    models, runs, names = {}, {}, []
    for seed in seeds:
        for t in threads:
            name = f"demo-s{seed}-t{t}"
            names.append(name)
            model = json.loads(json.dumps(demo_model))
            model.setdefault("demo", {})["seed"] = seed
            model["demo"].setdefault("pretrain", {})["threads"] = t
            models[name] = model
            run = json.loads(json.dumps(demo_run))
            run["model"], run["threads"] = name, t
            run.setdefault("resources", {})["cpus"] = t  # so that Snakemake never runs 2 × t threads on t cores
            runs[name] = run
    cfg["models"], cfg["runs"] = models, runs
    # the corpus does not depend on the pretraining seed: every case counts literature in the same text
    cfg["literature"]["corpus"] = [f"results/models/{names[0]}/corpus.txt"]
    return cfg, names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/factsurv-demo-robustness")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    threads = [int(x) for x in args.threads.split(",")]
    wd = workdir(Path(args.workdir))
    cfg, names = case_config(seeds, threads)
    (wd / "config" / "robustness.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake = str(Path(sys.executable).parent / "snakemake")
    # the jobs import the copy's package, not the one the venv's editable install points at
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(wd / "src"))
    t0 = time.perf_counter()
    proc = subprocess.run([snakemake, "--cores", str(args.cores), "--configfile", "config/robustness.yaml",
                           "--keep-going", "--rerun-incomplete"], cwd=wd, env=env)
    wall = time.perf_counter() - t0
    cases = {}
    for name in names:
        try:
            m = run_metrics(wd / "results", name)
        except (OSError, KeyError, ValueError) as exc:
            cases[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        metrics_file = wd / "results" / "models" / name / "pretrained" / "pretrain_metrics.json"
        if metrics_file.exists():
            pm = json.loads(metrics_file.read_text())
            m["pretrain_train_s"] = pm.get("train_seconds")
            m["pretrain_final_loss"] = pm.get("final_loss")
        m["outside_bands"] = outside_bands(m)
        cases[name] = m
    ranges = {}
    for key in (*BANDS, "latent_share", "trained_recall_epoch_0", "trained_recall_last", "hr_latent", "hr_latent_hpo"):
        vals = [c[key] for c in cases.values() if isinstance(c.get(key), (int, float))]
        if vals:
            ranges[key] = [min(vals), max(vals)]
    result = {
        "what": "the default demo (config/config.yaml) for every pretraining seed x thread count, through the workflow",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "cpu": _cpu(), "seeds": seeds, "threads": threads, "cores": args.cores,
        "snakemake_returncode": proc.returncode, "wall_s": round(wall, 1),
        "bands": {k: list(v) for k, v in BANDS.items()},
        "all_cases_in_bands": all(not c.get("outside_bands", ["error"]) for c in cases.values()),
        "ranges": ranges, "cases": cases,
    }
    out = Path(args.out) / f"demo_robustness_{dt.datetime.now():%Y%m%d_%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({"all_cases_in_bands": result["all_cases_in_bands"], "ranges": ranges}, indent=1))
    print(out)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = Path("/proc/cpuinfo").read_text()
                return line.split(":", 1)[1].strip() + (" (AVX-512)" if "avx512f" in flags else " (no AVX-512)")
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
