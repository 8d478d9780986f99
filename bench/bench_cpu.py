"""CPU benchmark of the model stage: training tokens/s, probe and eval facts/s, and the overhead of
one job per epoch (what the workflow does) versus the same epochs in one process.

    .venv/bin/python bench/bench_cpu.py [--epochs 2] [--threads 2] [--train-facts N] [--out bench/results]

Uses the demo model (results/models/demo/pretrained) and results/facts/facts.tsv when they exist,
otherwise a random model of the demo's shape and a synthetic facts table. Writes
bench/results/cpu_<date>.json. Every job is a fresh Python process (like a Snakemake job); each
reports its own breakdown (imports, model load, work, save) and the parent adds interpreter start
and the Snakemake per-job scheduling cost measured on a no-op workflow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # support.tiny_models: the tests' random models
PY = sys.executable
ONTO_NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}


# ---------------------------------------------------------------------------------------------
# children: one "job" each, printing a JSON breakdown on the last line
# ---------------------------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import torch

    from factsurv.modeling import evaluate, loading, train
    from factsurv.modeling.facts import read_facts
    from factsurv.prompts import PromptSettings

    if args.method == "lora":
        import peft  # noqa: F401  (what a LoRA job imports)
    torch.set_num_threads(args.threads)
    t_import = time.perf_counter() - t0
    spec = loading.model_spec({"source": "path"}, args.model)
    prompt = PromptSettings.from_params({}, ONTO_NAMES)
    settings = train.TrainSettings.from_params(json.loads(args.training), seed=1, threads=args.threads)
    facts = read_facts(args.facts)
    out: dict = {"imports_s": t_import, "load_s": 0.0, "train_s": 0.0, "eval_s": 0.0, "save_s": 0.0}
    tokens = 0
    if args.child == "train":
        t = time.perf_counter()
        r = train.EpochRecipe(spec, facts, settings, prompt)
        prev = Path(args.ckroot) / f"epoch_{args.epoch - 1}" if args.epoch > 1 else None
        r.setup(prev)
        out["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        stats = r.run_epoch(args.epoch)
        out["train_s"] = time.perf_counter() - t
        tokens = stats["tokens"]
        t = time.perf_counter()
        r.save_checkpoint(Path(args.ckroot) / f"epoch_{args.epoch}", stats)
        out["save_s"] = time.perf_counter() - t
    elif args.child == "eval":
        t = time.perf_counter()
        ck = Path(args.ckroot) / f"epoch_{args.epoch}" if args.epoch > 0 else None
        model, tok, _ = evaluate.load_trained(spec, ck)
        out["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        evaluate.greedy_table(model, tok, facts, prompt, batch_size=64, max_new_tokens=48)
        out["eval_s"] = time.perf_counter() - t
    elif args.child == "single":  # eval 0, then (train e, eval e) for every epoch, one process
        t = time.perf_counter()
        r = train.EpochRecipe(spec, facts, settings, prompt)
        r.setup(None)
        out["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        evaluate.greedy_table(r.model, r.tokenizer, facts, prompt, batch_size=64, max_new_tokens=48)
        out["eval_s"] += time.perf_counter() - t
        for e in range(1, args.epoch + 1):
            t = time.perf_counter()
            stats = r.run_epoch(e)
            out["train_s"] += time.perf_counter() - t
            tokens += stats["tokens"]
            t = time.perf_counter()
            r.save_checkpoint(Path(args.ckroot) / f"epoch_{e}", stats)
            out["save_s"] += time.perf_counter() - t
            t = time.perf_counter()
            evaluate.greedy_table(r.model, r.tokenizer, facts, prompt, batch_size=64, max_new_tokens=48)
            out["eval_s"] += time.perf_counter() - t
    elif args.child == "probe":
        from factsurv.modeling.probe import ProbeSettings, probe_table

        t = time.perf_counter()
        tok = loading.load_tokenizer(spec)
        model = loading.load_model(spec)
        out["load_s"] = time.perf_counter() - t
        sub = facts.head(args.probe_facts).reset_index(drop=True)
        t = time.perf_counter()
        greedy = sub[["fact_id"]].assign(epoch=0, prediction="", correct=0)
        probe_table(model, tok, sub, greedy, prompt,
                    ProbeSettings.from_params(dict(k=args.k, temperature=1.0, top_p=1.0, seed=0, batch_size=32,
                                                   max_new_tokens=48), threads=args.threads))
        out["probe_s"] = time.perf_counter() - t
        out["probe_facts"] = len(sub)
    out["tokens"] = tokens
    print(json.dumps(out))


def run_child(kind: str, ns: argparse.Namespace, epoch: int, ckroot: Path, training: dict) -> dict:
    cmd = [PY, __file__, "--child", kind, "--epoch", str(epoch), "--ckroot", str(ckroot), "--model",
           str(ns.model), "--facts", str(ns.facts), "--threads", str(ns.threads), "--training",
           json.dumps(training), "--method", training["method"], "--k", str(ns.k),
           "--probe-facts", str(ns.probe_facts)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    rec["wall_s"] = wall
    rec["interpreter_and_other_s"] = wall - sum(v for k, v in rec.items() if k.endswith("_s") and k != "wall_s")
    return rec


def snakemake_job_overhead(n_jobs: int = 3) -> float:
    """Seconds Snakemake adds per job (start, script preamble, bookkeeping) on a no-op chain."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "noop.py").write_text("open(snakemake.output[0], 'w').close()\n")
        rules = ["rule all:\n    input: 'j%d'\n" % (n_jobs - 1)]
        for i in range(n_jobs):
            inp = f"    input: 'j{i - 1}'\n" if i else ""
            rules.append(f"rule j{i}:\n{inp}    output: 'j{i}'\n    script: 'noop.py'\n")
        (Path(d) / "Snakefile").write_text("\n".join(rules))
        snk = str(Path(PY).parent / "snakemake")
        subprocess.run([snk, "--cores", "1", "-q", "-n"], cwd=d, capture_output=True)  # warm caches
        t = time.perf_counter()
        subprocess.run([snk, "--cores", "1", "-q"], cwd=d, capture_output=True, check=True)
        total = time.perf_counter() - t
    return total / n_jobs


def prepare(ns: argparse.Namespace, work: Path) -> str:
    demo = ROOT / "results/models/demo/pretrained"
    facts = Path(ns.facts_table) if ns.facts_table else ROOT / "results/facts/facts.tsv"
    from factsurv.io import write_tsv
    from factsurv.modeling.facts import read_facts
    from support.tiny_models import build_tiny_model, synthetic_facts

    if ns.model_dir:
        ns.model, what = Path(ns.model_dir), str(ns.model_dir)
    elif demo.is_dir() and not ns.random_model:
        ns.model, what = demo, "demo (results/models/demo/pretrained)"
    else:
        ns.model = build_tiny_model(work / "model", hidden_size=256, intermediate_size=688, num_layers=4,
                                    num_heads=4, vocab_size=4000)
        what = "random Llama of the demo's shape (hidden 256, 4 layers, 4 heads, inter 688)"
    df = read_facts(facts) if facts.exists() else synthetic_facts(n_train=1200, n_heldout=400)
    if ns.train_facts:
        df = df.groupby("split", group_keys=False).head(ns.train_facts)
    ns.facts = work / "facts.tsv"
    write_tsv(df, ns.facts)
    ns.n_facts, ns.n_train = len(df), int((df["split"] == "train").sum())
    return what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child")
    ap.add_argument("--epoch", type=int, default=2, help="(parent) epochs to compare")
    ap.add_argument("--ckroot")
    ap.add_argument("--model")
    ap.add_argument("--facts")
    ap.add_argument("--training", default="{}")
    ap.add_argument("--method", default="full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--probe-facts", type=int, default=100)
    ap.add_argument("--train-facts", type=int, default=0, help="cap facts per split (0: all)")
    ap.add_argument("--random-model", action="store_true")
    ap.add_argument("--model-dir", help="a model folder to use instead of the demo model")
    ap.add_argument("--facts-table", help="a facts.tsv to use instead of results/facts/facts.tsv")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "bench/results"))
    ns = ap.parse_args()
    if ns.child:
        return child(ns)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        what = prepare(ns, work)
        training = {"method": "full", "lr": ns.lr, "schedule_epochs": 12, "batch_size": ns.batch_size}
        lora = {**training, "method": "lora", "lr": 1e-3}
        E = ns.epoch
        res: dict = {"model": what, "n_facts": ns.n_facts, "n_train": ns.n_train, "threads": ns.threads,
                     "epochs_compared": E, "training": training}
        # one process for all epochs
        single = run_child("single", ns, E, work / "single", training)
        # one job per epoch (train e, eval e) + eval 0
        jobs = [("eval", 0)] + [x for e in range(1, E + 1) for x in (("train", e), ("eval", e))]
        split = [{"job": f"{k}_{e}", **run_child(k, ns, e, work / "split", training)} for k, e in jobs]
        sched = snakemake_job_overhead()
        split_total = sum(j["wall_s"] for j in split) + sched * len(split)
        res["single_process"] = single
        res["per_epoch_jobs"] = split
        res["snakemake_per_job_s"] = sched
        res["split_total_s"] = split_total
        res["single_total_s"] = single["wall_s"] + sched
        res["overhead_ratio"] = split_total / res["single_total_s"]
        # with --cores 2 and cpus: 1 per job, eval e runs beside train e+1: the wall clock is the
        # chain of training jobs plus the last eval (2 cores busy instead of 1)
        trains = [j["wall_s"] + sched for j in split if j["job"].startswith("train")]
        res["split_critical_path_s"] = sum(trains) + split[-1]["wall_s"] + sched
        res["overhead_ratio_wall_2cores"] = res["split_critical_path_s"] / res["single_total_s"]
        res["per_job_fixed_s"] = {j["job"]: j["wall_s"] + sched - j["train_s"] - j["eval_s"] for j in split}
        res["train_tokens_per_s_full"] = single["tokens"] / single["train_s"]
        lora_job = run_child("train", ns, 1, work / "lora", lora)
        res["train_tokens_per_s_lora"] = lora_job["tokens"] / lora_job["train_s"]
        res["lora_job"] = lora_job
        probe = run_child("probe", ns, 0, work / "p", training)
        res["probe"] = {"k": ns.k, **probe, "facts_per_s": probe["probe_facts"] / probe["probe_s"]}
        evals = [j for j in split if j["job"].startswith("eval")]
        res["eval_facts_per_s"] = ns.n_facts / (sum(j["eval_s"] for j in evals) / len(evals))
        res["host"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "loadavg_at_end": os.getloadavg()}
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cpu_{dt.datetime.now().strftime('%Y%m%d_%H%M')}.json"
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(json.dumps({k: res[k] for k in ("overhead_ratio", "overhead_ratio_wall_2cores", "split_total_s", "single_total_s",
                                          "snakemake_per_job_s", "train_tokens_per_s_full",
                                          "train_tokens_per_s_lora", "eval_facts_per_s")}, indent=1))
    print("probe facts/s", res["probe"]["facts_per_s"], "->", path)


if __name__ == "__main__":
    main()
