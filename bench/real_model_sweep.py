"""What makes SmolLM2-135M-Instruct learn: controlled prior exposure and fine-tuning settings, measured in one process.

    python bench/real_model_sweep.py expose --base results/models/smollm2/hf --out /tmp/exposed \
        [--passes 3] [--lr 1e-4] [--k 8]
    python bench/real_model_sweep.py sweep --model /tmp/exposed --grid full:3e-4:8:10 lora:3e-3:8:10 ...

``expose`` builds the exposure corpus of config/smollm2.yaml's facts (factsurv.modeling.exposure,
the schema's defaults unless given), continues pretraining the base on it, saves the model and
measures the baseline it leaves: greedy correctness and the K-sample probe per dose level.
``sweep`` fine-tunes the model once per grid cell (``method:lr:batch:epochs``) with factsurv's
recipe (the training plan of the default design on the trained facts) and after every epoch scores
greedy recall of the trained facts and the mean teacher-forced loss of their answers (the loss
``train_epoch`` minimises, measured on the whole answer with dropout off). Results go to
``bench/results/real_model_sweep_<date>.json`` (``--tag`` names the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_real_model import git_state, machine  # noqa: E402

NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}
PREFIXES = {"hpo": "HP", "go": "GO"}


def prompt_settings():
    from factsurv.prompts import PromptSettings

    return PromptSettings.from_params({"date": "2024-07-26"}, NAMES, PREFIXES)


def read_inputs(facts_path: Path):
    from factsurv.io import read_tsv
    from factsurv.modeling.facts import read_facts

    facts = read_facts(facts_path)
    terms = {o: read_tsv(REPO / f"results/terms/{o}.tsv", ["term_id", "label"], dtype=str) for o in NAMES}
    edges = {o: read_tsv(REPO / f"results/terms/{o}.edges.tsv", ["term_id", "relation", "target_id"], dtype=str)
             for o in NAMES}
    return facts, terms, edges


def baseline(model: Any, tokenizer: Any, facts: Any, k: int, threads: int) -> Any:
    from factsurv.modeling.evaluate import greedy_table
    from factsurv.modeling.probe import ProbeSettings, probe_table

    prompt = prompt_settings()
    greedy = greedy_table(model, tokenizer, facts, prompt, batch_size=64, max_new_tokens=40)
    settings = ProbeSettings.from_params({"k": k, "max_new_tokens": 32}, threads=threads)
    return greedy, probe_table(model, tokenizer, facts, greedy, prompt, settings)


def by_dose(assignment: Any, probe: Any) -> list[dict[str, Any]]:
    t = assignment.merge(probe, on="fact_id")
    rows = []
    for dose, g in t.groupby("dose"):
        rows.append({"dose": int(dose), "n": len(g), "known": int(g["greedy_correct"].sum()),
                     "latent": int(g["latent"].sum()), "mean_p_correct": round(float(g["p_correct"].mean()), 4)})
    return rows


def expose(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from factsurv.io import write_tsv
    from factsurv.modeling import loading
    from factsurv.modeling.demo_corpus import corpus_text
    from factsurv.modeling.exposure import ExposureSettings, build_exposure, expose_model, parent_labels

    facts, terms, edges = read_inputs(args.facts)
    block = {"seed": args.seed, "question_share": args.question_share}
    settings = ExposureSettings.from_params(block)
    assignment, documents = build_exposure(facts, settings, NAMES, parent_labels(terms, edges))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_tsv(assignment, out / "assignment.tsv")
    (out / "corpus.txt").write_text(corpus_text(list(documents["text"])), encoding="utf-8")
    spec = loading.model_spec({"source": "path"}, args.base)
    pretrain = {"passes": args.passes, "lr": args.lr, "threads": args.threads}
    t0 = time.perf_counter()
    metrics = expose_model(spec, str(out / "corpus.txt"), str(out / "model"), pretrain, args.seed, log=print)
    seconds = time.perf_counter() - t0
    mspec = loading.model_spec({"source": "path"}, out / "model")
    model, tok = loading.load_model(mspec), loading.load_tokenizer(mspec)
    torch.set_num_threads(args.threads)
    t1 = time.perf_counter()
    greedy, probe = baseline(model, tok, facts, args.k, args.threads)
    write_tsv(probe, out / "probe.tsv")
    return {"kind": "expose", "pretrain": pretrain, "exposure": block, "seconds": round(seconds, 1),
            "probe_seconds": round(time.perf_counter() - t1, 1), "corpus_tokens": metrics["corpus_tokens"],
            "tokens_per_s": metrics["tokens_per_s"], "final_loss": metrics["final_loss"],
            "loss_per_pass": [round(p["mean_loss"], 4) for p in metrics["passes"]],
            "baseline_by_dose": by_dose(assignment, probe), "model": str(out / "model")}


def answer_loss(model: Any, examples: list[tuple[list[int], list[int]]]) -> float:
    """Mean per-token loss of the answers (teacher-forced, dropout off)."""
    import torch

    model.eval()
    total, n = 0.0, 0
    with torch.inference_mode():
        for ids, labels in examples:
            x = torch.tensor([ids])
            y = torch.tensor([labels])
            out = model(input_ids=x, labels=y)
            k = int((y[:, 1:] != -100).sum())
            total += float(out.loss) * k
            n += k
    model.train()
    return total / max(1, n)


def sweep_cell(model_dir: Path, facts: Any, method: str, lr: float, batch: int, epochs: int, threads: int,
               seed: int) -> dict[str, Any]:
    from factsurv.designs import build_plan, default_design
    from factsurv.modeling import loading
    from factsurv.modeling.evaluate import greedy_table
    from factsurv.modeling.train import EpochRecipe, TrainSettings

    loading.set_threads(threads)
    prompt = prompt_settings()
    train = facts[facts["split"] == "train"].reset_index(drop=True)
    settings = TrainSettings.from_params({"method": method, "lr": lr, "schedule_epochs": epochs, "batch_size": batch,
                                          "warmup_ratio": 0.03}, seed=seed, threads=threads)
    spec = loading.model_spec({"source": "path"}, model_dir)
    plan = build_plan(train, default_design(), seed, epochs, NAMES)
    recipe = EpochRecipe(spec, train, settings, prompt, train_plan=plan)
    recipe.setup(None)
    examples = recipe.epoch_examples(1)
    curve = []
    t0 = time.perf_counter()
    for e in range(1, epochs + 1):
        stats = recipe.run_epoch(e)
        recipe.model.eval()
        table = greedy_table(recipe.model, recipe.tokenizer, train, prompt, batch_size=64, max_new_tokens=24)
        loss = answer_loss(recipe.model, examples)
        curve.append({"epoch": e, "train_loss": round(stats["loss"], 4), "answer_loss": round(loss, 4),
                      "trained_recall": round(float(table["correct"].mean()), 4),
                      "n_correct": int(table["correct"].sum()), "lr_end": stats["lr"],
                      "tokens_per_s": round(stats["tokens_per_s"] or 0, 1)})
        print(method, lr, batch, curve[-1], flush=True)
    return {"method": method, "lr": lr, "batch_size": batch, "epochs": epochs, "n_train": len(train),
            "steps_per_epoch": recipe.steps_per_epoch, "seconds": round(time.perf_counter() - t0, 1), "curve": curve}


def sweep(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    facts, _, _ = read_inputs(args.facts)
    result: dict[str, Any] = {"kind": "sweep", "model": str(args.model), "cells": []}
    for cell in args.grid:
        method, lr, batch, epochs = cell.split(":")
        result["cells"].append(sweep_cell(Path(args.model), facts, method, float(lr), int(batch), int(epochs),
                                          args.threads, args.seed))
        save(result)  # after every cell: a stopped sweep keeps the cells it finished
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("expose", "sweep"):
        p = sub.add_parser(name)
        p.add_argument("--facts", type=Path, default=REPO / "results/facts/facts.tsv")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--tag", default="")
    e = sub.choices["expose"]
    e.add_argument("--base", type=Path, default=REPO / "results/models/smollm2/hf")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--passes", type=float, default=3)
    e.add_argument("--lr", type=float, default=1e-4)
    e.add_argument("--k", type=int, default=8)
    e.add_argument("--question-share", type=float, default=0.5)
    s = sub.choices["sweep"]
    s.add_argument("--model", type=Path, required=True)
    s.add_argument("--grid", nargs="+", required=True, help="method:lr:batch:epochs")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M")
    path = REPO / "bench/results" / f"real_model_sweep_{args.cmd}{'_' + args.tag if args.tag else ''}_{stamp}.json"

    def save(result: dict[str, Any]) -> None:
        result.update({"wall_s": round(time.perf_counter() - t0, 1), "machine": machine(), "git": git_state(),
                       "threads": args.threads})
        path.write_text(json.dumps(result, indent=1) + "\n")

    save(expose(args) if args.cmd == "expose" else sweep(args, save))
    print(path)


if __name__ == "__main__":
    main()
