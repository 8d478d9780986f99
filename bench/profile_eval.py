"""Where greedy eval spends its time, and what an exact speed-up could still remove.

    .venv/bin/python bench/profile_eval.py --model results/models/demo/pretrained \
        --facts results/facts/facts.tsv [--checkpoint results/demo/checkpoints/epoch_20] [--threads 1]

On the demo model (or any path model), with :func:`factsurv.modeling.generation.generate_answers`
at the eval batch size, per phase: the shared-prefix prefill, the prompts' own prefill, the decode
steps (model calls, tokens, seconds; process CPU seconds too, as the machine may be shared); the
share of the time in the linear layers (cProfile); the token counts of a prompt and an answer; and
the cost of one teacher-forced pass over prompt + gold answer (the "verify the gold answer, decode
only where the argmax diverges" idea) next to the whole greedy loop. Writes
``bench/results/eval_profile_<date>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/models/demo/pretrained")
    ap.add_argument("--facts", default="results/facts/facts.tsv")
    ap.add_argument("--checkpoint", default=None, help="a full-fine-tuning checkpoint to evaluate instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="only the first N facts (0: all)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    import torch

    from factsurv import prompts
    from factsurv.modeling import generation
    from factsurv.modeling.evaluate import load_trained
    from factsurv.modeling.facts import read_facts
    from factsurv.prompts import (PromptSettings, encode_prompt, encode_target, render_prompts,
                                  split_trailing_space)
    from factsurv.modeling.loading import model_spec

    torch.set_num_threads(args.threads)
    facts = read_facts(args.facts)
    if args.limit:
        facts = facts.head(args.limit).reset_index(drop=True)
    spec = model_spec({"source": "path"}, args.model)
    model, tok, meta = load_trained(spec, args.checkpoint, epoch=None if args.checkpoint is None else
                                    json.loads((Path(args.checkpoint) / "checkpoint.json").read_text())["epoch"])
    prompt = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
    ids = [encode_prompt(tok, p, prompt) for p in render_prompts(tok, facts, prompt)]
    keys = list(facts["fact_id"])
    _, lead = split_trailing_space(tok, render_prompts(tok, facts.head(1), prompt)[0], prompt)
    gold = [encode_target(tok, g, lead) for g in facts["term_id"]]
    res: dict = {"facts": len(ids), "batch_size": args.batch_size, "threads": args.threads,
                 "model": args.model, "checkpoint": args.checkpoint,
                 "prompt_tokens_mean": round(sum(map(len, ids)) / len(ids), 2),
                 "answer_tokens_with_stop": len(gold[0]),
                 "HP:0001250_tokens": [tok.decode([t]) for t in tok(lead + "HP:0001250", add_special_tokens=False)["input_ids"]]}

    # phases: wrap the model's forward
    stats: dict = defaultdict(lambda: [0, 0.0, 0.0, 0])
    forward = model.forward

    def timed_forward(*a, **k):
        x = k["input_ids"]
        kind = "decode" if x.shape[1] == 1 else ("shared_prefix" if x.shape[0] == 1 else "prefill")
        t0, c0 = time.perf_counter(), time.process_time()
        out = forward(*a, **k)
        s = stats[kind]
        s[0] += 1
        s[1] += time.perf_counter() - t0
        s[2] += time.process_time() - c0
        s[3] += x.numel()
        return out

    model.forward = timed_forward
    generation.generate_answers(model, tok, ids[:64], keys=keys[:64], batch_size=args.batch_size)  # warm-up
    stats.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    answers = generation.generate_answers(model, tok, ids, keys=keys, batch_size=args.batch_size)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    model.forward = forward
    res["greedy"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "facts_per_s_wall": round(len(ids) / wall, 1),
                     "correct": sum(prompts.is_correct(a[0].text, g) for a, g in zip(answers, facts["term_id"])),
                     "phases": {k: {"calls": v[0], "wall_s": round(v[1], 2), "cpu_s": round(v[2], 2), "tokens": v[3]}
                                for k, v in stats.items()}}
    print(json.dumps(res["greedy"]), flush=True)

    # the linear layers' share (cProfile)
    prof = cProfile.Profile()
    prof.enable()
    generation.generate_answers(model, tok, ids, keys=keys, batch_size=args.batch_size)
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # tottime summed = profiled time
    top = sorted(((v[2], f"{Path(k[0]).name}:{k[2]}") for k, v in st.stats.items()), reverse=True)[:8]
    res["profile_top_tottime_s"] = {name: round(t, 2) for t, name in top}
    res["profile_total_s"] = round(total, 2)
    print(json.dumps(res["profile_top_tottime_s"]), flush=True)

    # one teacher-forced pass over prompt + gold answer: logits at the answer positions
    def teacher_forced() -> int:
        order = generation.batch_order(ids, args.batch_size)
        verified = 0
        with torch.inference_mode():
            for s in range(0, len(order), args.batch_size):
                idx = order[s:s + args.batch_size]
                seqs = [ids[i] + gold[i] for i in idx]
                w = max(map(len, seqs))
                x = torch.tensor([[tok.pad_token_id] * (w - len(q)) + q for q in seqs])
                m = torch.tensor([[0] * (w - len(q)) + [1] * len(q) for q in seqs])
                pos = (m.cumsum(-1) - 1).clamp(min=0)
                n_ans = len(gold[idx[0]])
                pred = model(input_ids=x, attention_mask=m, position_ids=pos, logits_to_keep=n_ans + 1).logits[:, :-1]
                verified += sum(pred[b].argmax(-1).tolist() == gold[i] for b, i in enumerate(idx))
        return verified

    t0, c0 = time.perf_counter(), time.process_time()
    verified = teacher_forced()
    res["teacher_forced_pass"] = {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(time.process_time() - c0, 2),
                                  "rows_fully_verified": verified,
                                  "note": "before any decoding of the rows that diverge; compare with greedy.cpu_s"}
    print(json.dumps(res["teacher_forced_pass"]), flush=True)
    res.update({"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
                "torch": torch.__version__})
    out = Path(args.out) / f"eval_profile_{dt.datetime.now():%Y%m%d_%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
