"""Probe and eval speed, before and after the prefill-once decoding loop, side by side in one run.

    .venv/bin/python bench/bench_probe.py --model results/models/demo/pretrained \
        --facts results/facts/facts.tsv [--k 20] [--threads 2] [--limit 1600]

"before" is the decoding that factsurv used until 2026-12 (kept here, verbatim in spirit, as the
reference): ``model.generate`` with ``num_return_sequences = K`` (each prompt copied K times before
the prefill), a stopping criterion that decodes every sequence to text at every step, one RNG seeded
per probe. "after" is :func:`factsurv.modeling.generation.generate_answers` (prefill once, KV cache
repeated K times, stop on token texts from a table, keyed per-fact random numbers (uniforms until 2026-12-04, Gumbel noise since); batches of prompts that
share their template's beginning, prefilled once per batch; the cache reselected only when rows
finish). Both sample the same facts with the same K, temperature and batch size on the same model
and threads. Eval (greedy) runs ``--eval-rounds`` times each, after and before interleaved, and
reports the fastest round of each (wall) and its process CPU time, so a busy machine hurts less;
the load average before and after is recorded.

Writes ``bench/results/probe_<date>.json``: samples/s (sampling only; the greedy answer of the probe
now comes from eval epoch 0), eval facts/s (greedy), the speed-ups, and the share of facts whose
greedy answers agree between the two implementations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


class _OldStop:
    """The old stop criterion: decode every sequence at every step and search the pattern."""

    def __init__(self, tokenizer, prompt_len, pattern):
        self.tokenizer, self.prompt_len, self.pattern, self.done = tokenizer, prompt_len, pattern, None

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        if self.done is None or self.done.shape[0] != input_ids.shape[0]:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        for i, text in enumerate(texts):
            if not self.done[i] and self.pattern.search(text):
                self.done[i] = True
        return self.done.clone()


def old_generate(model, tokenizer, prompt_ids, *, batch_size, max_new_tokens, num_samples, seed=0):
    """The pre-2026-12 implementation (HF generate, num_return_sequences)."""
    import re

    import torch
    from transformers import StoppingCriteriaList

    pattern = re.compile(r"(HP|GO)\s*:\s*(\d{7})", re.IGNORECASE)
    pad = tokenizer.pad_token_id
    n_ret = max(num_samples, 1)
    kw = dict(max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
              num_return_sequences=n_ret)
    if num_samples:
        kw.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    order = sorted(range(len(prompt_ids)), key=lambda i: -len(prompt_ids[i]))
    out = [None] * len(prompt_ids)
    torch.manual_seed(seed)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            chunk = [prompt_ids[i] for i in idx]
            w = max(map(len, chunk))
            ids = torch.tensor([[pad] * (w - len(x)) + list(x) for x in chunk])
            mask = torch.tensor([[0] * (w - len(x)) + [1] * len(x) for x in chunk])
            seqs = model.generate(input_ids=ids, attention_mask=mask,
                                  stopping_criteria=StoppingCriteriaList([_OldStop(tokenizer, w, pattern)]), **kw)
            texts = tokenizer.batch_decode(seqs[:, w:], skip_special_tokens=True)
            for b, i in enumerate(idx):
                out[i] = [" ".join(t.split()) for t in texts[b * n_ret:(b + 1) * n_ret]]
    return out


STARTUP = """
import sys, time
t0 = time.perf_counter()
import snakemake.script
from factsurv.rules import rule_logging
from factsurv.modeling import evaluate, probe, train, loading, generation
import torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
t1 = time.perf_counter()
heavy = [m for m in ("peft", "bitsandbytes", "lifelines", "matplotlib") if m in sys.modules]
print(round(t1 - t0, 3), ",".join(heavy))
"""


def job_startup(repeats: int = 3) -> dict:
    """Interpreter start + the imports a model job makes before its work (eval, probe, full training),
    in a fresh process; and whether peft, bitsandbytes, lifelines or matplotlib came along."""
    import subprocess

    walls, imports, heavy = [], [], set()
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STARTUP], capture_output=True, text=True,
                             env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, check=True)
        walls.append(time.perf_counter() - t0)
        t, _, mods = out.stdout.strip().partition(" ")
        imports.append(float(t))
        heavy.update(m for m in mods.split(",") if m)
    return {"wall_s_median": round(sorted(walls)[len(walls) // 2], 2),
            "imports_s_median": round(sorted(imports)[len(imports) // 2], 2),
            "heavy_modules_imported": sorted(heavy)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/models/demo/pretrained")
    ap.add_argument("--facts", default="results/facts/facts.tsv")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=16, help="the old default (the new one is 48)")
    ap.add_argument("--limit", type=int, default=0, help="probe only the first N facts (0: all)")
    ap.add_argument("--eval-rounds", type=int, default=3, help="greedy eval runs of each, interleaved")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    import torch

    from factsurv import prompts
    from factsurv.modeling.facts import read_facts
    from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
    from factsurv.modeling.generation import generate_answers
    from factsurv.modeling.loading import load_model, load_tokenizer, model_spec

    torch.set_num_threads(args.threads)
    facts = read_facts(args.facts)
    if args.limit:
        facts = facts.head(args.limit).reset_index(drop=True)
    spec = model_spec({"source": "path"}, args.model)
    tok, model = load_tokenizer(spec), load_model(spec)
    prompt = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
    ids = [encode_prompt(tok, p, prompt) for p in render_prompts(tok, facts, prompt)]
    keys = list(facts["fact_id"])
    gold = list(facts["term_id"])
    res: dict = {}

    def timed(fn):
        t0, c0 = time.perf_counter(), time.process_time()
        r = fn()
        return r, time.perf_counter() - t0, time.process_time() - c0

    load_start = os.getloadavg()
    # greedy (eval): the new loop and the old, interleaved; the fastest round of each
    rounds = {"after": [], "before": []}
    for _ in range(max(1, args.eval_rounds)):
        new_g, *t = timed(lambda: generate_answers(model, tok, ids, keys=keys, batch_size=args.eval_batch_size,
                                                   max_new_tokens=48))
        rounds["after"].append(t)
        old_g, *t = timed(lambda: old_generate(model, tok, ids, batch_size=args.eval_batch_size,
                                               max_new_tokens=args.max_new_tokens, num_samples=0))
        rounds["before"].append(t)
    (t_new_g, c_new_g), (t_old_g, c_old_g) = min(rounds["after"]), min(rounds["before"])
    agree = sum(prompts.normalize_answer(a[0].text) == prompts.normalize_answer(b[0])
                for a, b in zip(new_g, old_g)) / len(ids)
    res["eval"] = {"facts": len(ids), "rounds": len(rounds["after"]),
                   "before_facts_per_s": round(len(ids) / t_old_g, 1),
                   "after_facts_per_s": round(len(ids) / t_new_g, 1), "speedup": round(t_old_g / t_new_g, 2),
                   "before_cpu_s": round(c_old_g, 2), "after_cpu_s": round(c_new_g, 2),
                   "speedup_cpu": round(c_old_g / c_new_g, 2),
                   "wall_s_all_rounds": {k: [round(w, 2) for w, _ in v] for k, v in rounds.items()},
                   "greedy_identifier_agreement": round(agree, 4)}
    print(json.dumps(res["eval"]), flush=True)
    # sampling (probe)
    new_s, t_new_s, c_new_s = timed(lambda: generate_answers(model, tok, ids, keys=keys, batch_size=args.batch_size,
                                                             max_new_tokens=48, num_samples=args.k, seed=0))
    old_s, t_old_s, c_old_s = timed(lambda: old_generate(model, tok, ids, batch_size=args.batch_size,
                                                         max_new_tokens=args.max_new_tokens, num_samples=args.k))
    n = len(ids) * args.k
    right_new = sum(prompts.is_correct(a.text, g) for s, g in zip(new_s, gold) for a in s) / n
    right_old = sum(prompts.is_correct(a, g) for s, g in zip(old_s, gold) for a in s) / n
    res["probe"] = {"facts": len(ids), "k": args.k, "samples": n,
                    "before_samples_per_s": round(n / t_old_s, 1), "after_samples_per_s": round(n / t_new_s, 1),
                    "speedup": round(t_old_s / t_new_s, 2), "before_s": round(t_old_s, 1), "after_s": round(t_new_s, 1),
                    "before_cpu_s": round(c_old_s, 1), "after_cpu_s": round(c_new_s, 1),
                    "speedup_cpu": round(c_old_s / c_new_s, 2),
                    "share_correct_samples_before": round(right_old, 4), "share_correct_samples_after": round(right_new, 4)}
    print(json.dumps(res["probe"]), flush=True)
    res["job_startup"] = job_startup()
    print(json.dumps(res["job_startup"]), flush=True)
    res.update({
        "what": "probe sampling and greedy eval: before (HF generate, num_return_sequences) vs after (prefill once)",
        "model": args.model, "threads": args.threads, "batch_size": args.batch_size,
        "eval_batch_size": args.eval_batch_size, "before_max_new_tokens": args.max_new_tokens,
        "after_max_new_tokens": 48, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "loadavg_1_5_15_start": [round(x, 2) for x in load_start],
        "loadavg_1_5_15_end": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
        "targets": {"probe_speedup": 5.0, "eval_speedup": 2.0},
    })
    res["targets_met"] = {"probe": res["probe"]["speedup"] >= 5.0, "eval": res["eval"]["speedup"] >= 2.0}
    out = Path(args.out) / f"probe_{dt.datetime.now():%Y%m%d_%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
