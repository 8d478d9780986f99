"""The parameter-level analyses on the demo model (docs/parameters.md), with the seed papers'
directions beside ours.

    python bench/bench_parameters.py --designs /tmp/fs24-designs [--demo /path/to/finished/demo]

``--designs``: a finished run of config/designs.yaml (runs qa, mixed, two_stage, ... of the demo
model, 12 epochs; `snakemake --cores 2 --configfile config/designs.yaml`). On its final epoch:

- ``restore``: greedy recall of trained and withheld facts after restoring 0, 1, 5, 20, 60 % of
  the qa run's updates (top, and random as the contrast), arXiv 2509.16596's rule;
- ``updates``: where the qa run's updates are (the largest relative updates by module);
- ``attention``: the qa run's attention on the term's label per epoch and layer, beside its answer
  loss and plateau (arXiv 2503.21676's mechanism);
- ``trace``: the shared parameters of statements and questions for mixed vs two_stage (epoch 0
  and the final epoch), arXiv 2505.16178's comparison in our reconstruction.

``--demo``: a finished default demo run (e.g. the workdir of tests/test_demo.py or `make demo`):
the seconds of its parameter jobs (benchmarks/) beside its wall time (Snakemake's log), the cost
of these analyses in the demo. Everything runs through the library functions the rules call, at
1 thread. Writes ``bench/results/parameters_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_real_model import git_state, machine  # noqa: E402

PARAM_RULES = ("param_updates", "restore_updates", "gradient_trace", "attention_mass", "parameter_figures")


def settings(wd: Path, config: str):
    import yaml

    from factsurv.config import validate_config
    from factsurv.prompts import PromptSettings

    cfg = validate_config(yaml.safe_load((wd / config).read_text()), str(REPO / "workflow/schemas/config.schema.yaml"))
    names = {k: v["name"] for k, v in cfg["ontologies"].items()}
    prefixes = {k: v["prefix"] for k, v in cfg["ontologies"].items()}
    return cfg, PromptSettings.from_params(cfg["prompt"], names, prefixes)


def designs(wd: Path, threads: int) -> dict[str, Any]:
    import pandas as pd

    from factsurv.analysis.parameters import restore_summary
    from factsurv.designs import read_plan, run_facts
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.gradient_trace import gradient_trace
    from factsurv.modeling.loading import model_spec
    from factsurv.modeling.parameters import load_epoch_updates, restore_curve, update_rows

    cfg, prompt = settings(wd, "config/designs.yaml")
    facts = read_facts(wd / "results/facts/facts.tsv")
    spec = model_spec({"source": "demo"}, wd / "results/models/demo/pretrained")
    epoch = int(cfg["runs"]["qa"]["epochs"])
    out: dict[str, Any] = {"workdir": str(wd), "epoch": epoch}

    # restoring updates (the qa run: the demo's design)
    plan = read_plan(wd / "results/qa/train_plan.tsv")
    split_of = run_facts(facts, plan).set_index("fact_id")["split"]
    ck = wd / f"results/qa/checkpoints/epoch_{epoch}"
    t0 = time.time()
    per_fact, counts = restore_curve(spec, ck, epoch, facts, prompt, ratios=[0, 1, 5, 20, 60],
                                     strategies=["top", "random"], seed=32, batch_size=64,
                                     max_new_tokens=int(cfg["runs"]["qa"]["eval"]["max_new_tokens"]), threads=threads)
    table = restore_summary(per_fact, counts, split_of)
    out["restore_seconds"] = round(time.time() - t0, 1)
    out["restore"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                      for r in table[["strategy", "ratio", "split", "n", "correct", "recall", "lower_95",
                                      "upper_95"]].to_dict("records")]
    top = table[table["strategy"] == "top"]
    directions = {}
    for split, g in top.groupby("split"):
        base = float(g.loc[g["ratio"] == 0, "recall"].iloc[0])
        best = g[g["ratio"] > 0].sort_values("recall").iloc[-1]
        directions[split] = {"recall_ratio_0": round(base, 4), "best_ratio": float(best["ratio"]),
                             "best_recall": round(float(best["recall"]), 4),
                             "restoring_raises_recall": bool(best["lower_95"] > base)}
    out["restore_directions"] = directions

    # where the updates are
    eu = load_epoch_updates(spec, ck, epoch, threads=threads)
    rows = pd.DataFrame(update_rows(eu))
    del eu
    layers = rows[rows["layer"].notna()]
    by_module = layers.groupby("module")["relative_update"].mean().sort_values(ascending=False)
    out["updates"] = {"relative_update_by_module": {k: round(float(v), 5) for k, v in by_module.items()},
                      "largest": layers.sort_values("relative_update", ascending=False)
                      .head(5)[["parameter", "relative_update", "share_50", "share_90"]].round(5).to_dict("records")}

    # where attention goes (the qa run, every epoch, 50 trained facts as the rule's default)
    from factsurv.modeling.attention import attention_table, plateau_epoch

    trained = facts[facts["fact_id"].map(split_of).eq("train")].reset_index(drop=True)
    t0 = time.time()
    checkpoints = {e: (None if e == 0 else str(wd / f"results/qa/checkpoints/epoch_{e}")) for e in range(epoch + 1)}
    att, loss = attention_table(spec, checkpoints, trained, prompt, max_facts=50, seed=0, threads=threads)
    plateau = plateau_epoch(loss)
    by = att.groupby(["epoch", "layer"])["mass"].mean().unstack("layer")
    out["attention"] = {"seconds": round(time.time() - t0, 1), "facts": int(att["n_facts"].iloc[0]),
                        "label_share": round(float(att["label_share"].iloc[0]), 4),
                        "mass_by_epoch_and_layer": {int(e): {f"layer_{int(k)}": round(float(v), 4) for k, v in r.items()}
                                                    for e, r in by.iterrows()},
                        "answer_loss": {int(r.epoch): round(float(r.answer_loss), 4) for r in loss.itertuples()},
                        "plateau_epoch": plateau}

    # shared parameters: mixed vs two_stage
    trace: dict[str, Any] = {}
    for run in ("mixed", "two_stage"):
        plan = read_plan(wd / f"results/{run}/train_plan.tsv")
        for e in (0, epoch):
            t0 = time.time()
            _, s = gradient_trace(spec, None if e == 0 else wd / f"results/{run}/checkpoints/epoch_{e}", e, facts,
                                  plan, prompt, max_facts=200, top_percent=1, top_units_percent=10, threads=threads)
            s["seconds"] = round(time.time() - t0, 1)
            trace[f"{run}/epoch_{e}"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}
    out["trace"] = trace
    m, t = trace[f"mixed/epoch_{epoch}"], trace[f"two_stage/epoch_{epoch}"]
    out["trace_directions"] = {
        "paper": "arXiv 2505.16178: mixed training gives a larger and more centralized shared set than two-stage",
        "larger_shared_set_for_mixed": m["shared_share"] > t["shared_share"],
        "more_centralized_for_mixed_heads": m["gini_heads"] > t["gini_heads"],
        "more_centralized_for_mixed_top_units": m["top_units_share"] > t["top_units_share"],
        "more_consistent_gradients_for_mixed": m["mean_cosine"] > t["mean_cosine"],
    }
    return out


def demo_cost(wd: Path) -> dict[str, Any]:
    """Seconds of the parameter jobs (benchmarks/) beside the wall time of the demo's full
    Snakemake invocation (the "Elapsed time" of its largest log)."""
    seconds = {}
    for rule in PARAM_RULES:
        for f in (wd / "benchmarks").rglob(f"{rule}*.tsv"):
            lines = f.read_text().splitlines()
            if len(lines) > 1:
                seconds[str(f.relative_to(wd))] = float(lines[1].split("\t")[0])
    logs = sorted((wd / ".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.stat().st_size)
    m = re.search(r"^Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)$", logs[-1].read_text(), re.M) if logs else None
    wall = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    total = sum(seconds.values())
    return {"workdir": str(wd), "parameter_job_seconds": seconds, "parameter_seconds": round(total, 1),
            "demo_wall_s": wall, "share_of_wall": round(total / wall, 3) if wall else None,
            "note": "an upper bound of the wall-time growth: the parameter jobs' seconds over the whole demo's "
                    "wall time (with 2 cores some of them run beside other jobs)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", type=Path, help="a finished run of config/designs.yaml")
    ap.add_argument("--demo", type=Path, help="a finished default demo run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "bench/results")
    args = ap.parse_args()
    res: dict[str, Any] = {"what": "parameter-level analyses on the demo model (docs/parameters.md)",
                           **machine(), **git_state()}
    if args.designs:
        res["designs"] = designs(args.designs, args.threads)
    if args.demo:
        res["demo"] = demo_cost(args.demo)
    path = args.out / f"parameters_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M}.json"
    path.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(path)


if __name__ == "__main__":
    main()
