"""The baseline latent-knowledge probe (SPEC §1): ``results/{run}/probe/baseline.tsv``.

Per fact: the greedy answer and its correctness, K sampled answers (temperature, top_p, seeded),
``n_correct_samples``, ``p_correct`` = share of correct samples, and ``latent`` = greedy wrong and
at least one sample correct. Samples come from ``num_return_sequences`` so each prompt is encoded
once; a stopping criterion ends an answer as soon as it holds a full identifier.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from factsurv import prompts
from factsurv.modeling import loading
from factsurv.modeling.facts import PromptSettings, encode_prompt, read_facts, render_prompts

log = logging.getLogger("factsurv")

PROBE_COLUMNS = ["fact_id", "greedy_prediction", "greedy_correct", "n_samples", "n_correct_samples",
                 "p_correct", "latent", "samples"]
SAMPLE_SEP = " || "


@dataclass(frozen=True)
class ProbeSettings:
    """The run's ``probe:`` block."""

    k: int = 100
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 32
    max_new_tokens: int = 16
    threads: int = 0

    @classmethod
    def from_params(cls, probe: dict[str, Any], threads: int = 0) -> "ProbeSettings":
        known = {k: v for k, v in probe.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "threads": threads or known.get("threads", 0)})


def probe_table(model: Any, tokenizer: Any, facts: pd.DataFrame, prompt: PromptSettings,
                settings: ProbeSettings) -> pd.DataFrame:
    """The probe table for ``facts`` (in their order)."""
    import torch
    from tqdm.auto import tqdm

    from factsurv.modeling.evaluate import greedy_table
    from factsurv.modeling.generation import generate_answers

    greedy = greedy_table(model, tokenizer, facts, prompt, batch_size=max(settings.batch_size, 1),
                          max_new_tokens=settings.max_new_tokens)
    ids = [encode_prompt(tokenizer, p, prompt) for p in render_prompts(tokenizer, facts, prompt)]
    # sample in batches of similar length (less padding); the RNG is seeded once, so the samples
    # depend on (seed, batch_size, facts) and are reproducible
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    torch.manual_seed(settings.seed)
    bar = tqdm(total=len(ids), desc=f"sampling k={settings.k}", file=sys.stderr, mininterval=5, ascii=True)
    sampled = generate_answers(model, tokenizer, [ids[i] for i in order], batch_size=settings.batch_size,
                               max_new_tokens=settings.max_new_tokens, num_samples=settings.k,
                               temperature=settings.temperature, top_p=settings.top_p,
                               prefixes=prompt.prefixes, progress=bar)
    bar.close()
    samples: list[list[str]] = [[] for _ in ids]
    for i, s in zip(order, sampled):
        samples[i] = s
    gold = [str(g) for g in facts["term_id"]]
    n_correct = [sum(prompts.is_correct(a, g, prompt.prefixes) for a in s) for s, g in zip(samples, gold)]
    out = pd.DataFrame({
        "fact_id": facts["fact_id"].to_numpy(),
        "greedy_prediction": greedy["prediction"].to_numpy(),
        "greedy_correct": greedy["correct"].to_numpy(),
        "n_samples": settings.k,
        "n_correct_samples": n_correct,
        "samples": [SAMPLE_SEP.join(s) for s in samples],
    })
    out["p_correct"] = out["n_correct_samples"] / out["n_samples"]
    out["latent"] = ((out["greedy_correct"] == 0) & (out["n_correct_samples"] > 0)).astype(int)
    return out[PROBE_COLUMNS]


def probe_baseline(spec: dict[str, Any], facts_path: str | os.PathLike[str], prompt: PromptSettings,
                   settings: ProbeSettings, *, device: str | None = None) -> pd.DataFrame:
    """What ``probe_baseline`` does: load the base model and probe every fact."""
    loading.set_threads(settings.threads)
    facts = read_facts(facts_path)
    t0 = time.perf_counter()
    tokenizer = loading.load_tokenizer(spec)
    model = loading.load_model(spec, device=device)
    t1 = time.perf_counter()
    table = probe_table(model, tokenizer, facts, prompt, settings)
    t2 = time.perf_counter()
    log.info("probe: %d facts, k=%d, load %.1f s, probe %.1f s (%.2f facts/s); greedy correct %.4f, "
             "latent %.4f, mean p_correct %.4f", len(table), settings.k, t1 - t0, t2 - t1,
             len(table) / max(t2 - t1, 1e-9), table["greedy_correct"].mean(), table["latent"].mean(),
             table["p_correct"].mean())
    return table
