"""Greedy predictions do not depend on the batches: the demo model at several epochs, 1600 facts.

    .venv/bin/python bench/eval_invariance.py --model results/models/demo/pretrained \
        --facts results/facts/facts.tsv --checkpoints results/demo/checkpoints --epochs 0 1 5 10 20

For each epoch (0: the pretrained model; others: ``<checkpoints>/epoch_<e>``), the greedy answers of
:func:`factsurv.modeling.generation.generate_answers` at the eval batch size (64) are compared, fact by
fact, with the same loop at batch sizes 7 and 128, with the facts in reverse order, and with HF
``generate`` (the pre-2026-12 eval, ``bench_probe.old_generate``; compared on the normalised
identifier, as it stops on the text). Float differences between batch compositions could flip an
argmax near a tie; this counts whether any did. Writes ``bench/results/eval_invariance_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/models/demo/pretrained")
    ap.add_argument("--facts", default="results/facts/facts.tsv")
    ap.add_argument("--checkpoints", default="results/demo/checkpoints")
    ap.add_argument("--epochs", type=int, nargs="+", default=[0, 1, 5, 10, 20])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    import torch

    import bench_probe
    from factsurv import prompts
    from factsurv.modeling.evaluate import load_trained
    from factsurv.modeling.facts import read_facts
    from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
    from factsurv.modeling.generation import generate_answers
    from factsurv.modeling.loading import model_spec

    torch.set_num_threads(args.threads)
    facts = read_facts(args.facts)
    spec = model_spec({"source": "path"}, args.model)
    prompt = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
    keys = list(facts["fact_id"])
    res: dict = {}
    for e in args.epochs:
        ckpt = None if e == 0 else str(Path(args.checkpoints) / f"epoch_{e}")
        model, tok, _ = load_trained(spec, ckpt, epoch=e or None)
        ids = [encode_prompt(tok, p, prompt) for p in render_prompts(tok, facts, prompt)]

        def texts(bs: int, order: list[int]) -> list[str]:
            got = generate_answers(model, tok, [ids[i] for i in order], keys=[keys[i] for i in order], batch_size=bs)
            out = [""] * len(ids)
            for j, i in enumerate(order):
                out[i] = got[j][0].text
            return out

        forward = list(range(len(ids)))
        ref = texts(64, forward)
        row = {"facts": len(ids), "correct": sum(prompts.is_correct(a, g) for a, g in zip(ref, facts["term_id"]))}
        for name, other in (("bs7", texts(7, forward)), ("bs128", texts(128, forward)),
                            ("bs64_reversed", texts(64, forward[::-1]))):
            row[f"same_text_{name}"] = sum(a == b for a, b in zip(ref, other))
        hf = bench_probe.old_generate(model, tok, ids, batch_size=64, max_new_tokens=16, num_samples=0)
        row["same_identifier_hf_generate_bs64"] = sum(prompts.normalize_answer(a) == prompts.normalize_answer(b[0])
                                                      for a, b in zip(ref, hf))
        res[str(e)] = row
        print(e, json.dumps(row), flush=True)
    out = {"what": "greedy answers of the eval loop (batch 64) vs batch 7, 128, reversed fact order, HF generate",
           "model": args.model, "checkpoints": args.checkpoints, "threads": args.threads, "epochs": res,
           "all_identical": all(v == r["facts"] for r in res.values() for k, v in r.items() if k.startswith("same_")),
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
           "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}
    path = Path(args.out) / f"eval_invariance_{dt.datetime.now():%Y%m%d_%H%M}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
