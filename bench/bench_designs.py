"""Training designs on the demo model (issue 11): run some runs of config/designs.yaml through their
evaluation and write their recall per per-run split to bench/results/designs_<date>.json.

    python bench/bench_designs.py [--runs mixed two_stage] [--workdir /tmp/factsurv-bench-designs]
                                  [--cores 2] [--out bench/results]

A copy of the workflow (Snakefile, rules, package, configs) in ``--workdir`` runs the model stage of
the chosen runs (probe, train_plan, every train_epoch and eval_epoch); the analysis stage is left
out. Per run and epoch it reports recall (share of facts whose greedy answer is right) of the
facts the run trained with questions (``train``), of those it showed only as statements
(``statement_only``: seed 001's out-of-distribution recall) and of those it never showed
(``heldout``), the per-run splits of :func:`factsurv.designs.run_facts`.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

COPY = ("Snakefile", "workflow", "src", "config", "envs", "profiles")


def workdir_copy(dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for item in COPY:
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    if (REPO / "resources/wheels").is_dir():
        (dest / "resources").mkdir()
        (dest / "resources/wheels").symlink_to(REPO / "resources/wheels")
    return dest


def recall_table(wd: Path, run: str, epochs: int) -> dict:
    from factsurv.designs import read_plan, run_facts
    from factsurv.io import read_tsv

    facts = read_tsv(wd / "results/facts/facts.tsv", dtype={"fact_id": str})
    plan = read_plan(wd / f"results/{run}/train_plan.tsv")
    split = run_facts(facts, plan, epochs=epochs).set_index("fact_id")["split"]
    out: dict = {"n": split.value_counts().to_dict(), "recall": {}}
    for e in range(epochs + 1):
        if not (wd / f"results/{run}/eval/epoch_{e}.tsv").exists():
            continue  # --partial: an earlier epoch's eval may still be running
        ev = read_tsv(wd / f"results/{run}/eval/epoch_{e}.tsv", dtype={"fact_id": str}).set_index("fact_id")
        by = ev["correct"].astype(int).groupby(split.reindex(ev.index)).mean()
        out["recall"][e] = {k: round(float(v), 4) for k, v in by.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", default=["mixed", "two_stage"])
    ap.add_argument("--workdir", default="/tmp/factsurv-bench-designs")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench/results"))
    ap.add_argument("--reuse", action="store_true", help="keep an existing workdir (resume a run)")
    ap.add_argument("--partial", action="store_true",
                    help="run nothing: report the epochs whose eval tables are already in --workdir")
    args = ap.parse_args()
    wd = Path(args.workdir)
    # the code that runs is the tree as it is now (copied into the workdir): record it before running
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip())
    if not (args.reuse or args.partial) or not wd.exists():
        workdir_copy(wd)
    cfg = yaml.safe_load((wd / "config/designs.yaml").read_text())
    targets = []
    for run in args.runs:
        epochs = cfg["runs"][run]["epochs"]
        targets += [f"results/{run}/train_plan.tsv"] + [f"results/{run}/eval/epoch_{e}.tsv" for e in range(epochs + 1)]
    # the jobs import the copy's package, not the one the venv's editable install points at
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", PYTHONPATH=str(wd / "src"))
    t0 = time.monotonic()
    if not args.partial:
        proc = subprocess.run([str(REPO / ".venv/bin/snakemake"), "--cores", str(args.cores), *targets,
                               "--configfile", "config/designs.yaml"], cwd=wd, env=env, capture_output=True,
                              text=True)
        (wd / "bench_snakemake.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            sys.exit(f"snakemake failed ({proc.returncode}); see {wd / 'bench_snakemake.log'}")
    seconds = time.monotonic() - t0
    result = {
        "what": "runs of config/designs.yaml on the demo model: greedy recall per per-run split and epoch",
        "commit": commit, "dirty": dirty,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
        "cpus": os.cpu_count(), "cores": args.cores, "workflow_s": None if args.partial else round(seconds, 1),
        "partial": args.partial, "load_average": os.getloadavg(),
        "runs": {},
    }
    for run in args.runs:
        spec = cfg["runs"][run]
        done = spec["epochs"]
        while done >= 0 and not (wd / f"results/{run}/eval/epoch_{done}.tsv").exists():
            done -= 1
        if done < 0:
            result["runs"][run] = {"design": spec.get("design", {}), "epochs_evaluated": None}
            continue
        table = recall_table(wd, run, done)
        last = table["recall"][done]
        result["runs"][run] = {"design": spec.get("design", {}), "epochs": spec["epochs"],
                               "epochs_evaluated": done, **table,
                               "final_trained_recall": last.get("train"),
                               "final_statement_only_recall": last.get("statement_only"),
                               "final_heldout_recall": last.get("heldout")}
    out = Path(args.out) / f"designs_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(out)
    for run, r in result["runs"].items():
        if r.get("epochs_evaluated") is None:
            print(f"{run}: no eval table yet")
            continue
        print(f"{run} (epoch {r['epochs_evaluated']}): trained {r['final_trained_recall']}, statement-only {r['final_statement_only_recall']}, "
              f"withheld {r['final_heldout_recall']}")


if __name__ == "__main__":
    main()
