"""The loss-vs-learning, consolidation and stopping tables of finished runs (rule learning_dynamics;
docs/consolidation.md) as one bench file, for the README and docs to quote.

    python bench/learning_dynamics.py --workdir /tmp/factsurv-bench-demo --label demo [--runs demo]

Reads ``results/<run>/analysis/{learning_summary,loss_recall,consolidation,stopping}.tsv`` of each
run (default: every run with a learning_summary.tsv) and writes
``bench/results/learning_dynamics_<label>_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_real_model import git_state, machine  # noqa: E402


def records(path: Path, columns: list[str] | None = None) -> list[dict]:
    import pandas as pd

    t = pd.read_csv(path, sep="\t")
    if columns:
        t = t[[c for c in columns if c in t.columns]]
    return json.loads(t.to_json(orient="records"))


def collect(wd: Path, runs: list[str]) -> dict:
    out = {}
    for run in runs:
        a = wd / "results" / run / "analysis"
        out[run] = {
            "summary": records(a / "learning_summary.tsv"),
            "loss_recall": records(a / "loss_recall.tsv"),
            "consolidation": records(a / "consolidation.tsv"),
            "stopping": records(a / "stopping.tsv", ["criterion", "monitors", "stop_epoch", "epochs_trained",
                                                     "triggered", "trained_recall", "generalization",
                                                     "control_accuracy", "note"]),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--label", required=True)
    ap.add_argument("--runs", nargs="*")
    ap.add_argument("--bench", help="the bench file whose run left the workdir (its commit is the code's)")
    args = ap.parse_args()
    runs = args.runs or sorted(p.parent.parent.name for p in (args.workdir / "results").glob("*/analysis/learning_summary.tsv"))
    result = {"what": f"learning_dynamics tables of the finished runs in {args.workdir}", "workdir": str(args.workdir),
              "bench": args.bench, "machine": machine(), "git": git_state(), "runs": collect(args.workdir, runs)}
    if args.bench:  # the code that made the tables is the bench run's, not the checkout's now
        run = json.loads(Path(args.bench).read_text()).get("workflow", {})
        result["run_commit"] = {"commit": run.get("commit"), "dirty": run.get("dirty"), "cpu": run.get("cpu")}
    path = REPO / "bench/results" / f"learning_dynamics_{args.label}_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
