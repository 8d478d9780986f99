"""The baseline latent-knowledge probe (SPEC §1): ``results/{run}/probe/baseline.tsv``.

"Known at baseline" has one source: the greedy pass of ``eval/epoch_0.tsv``. The probe adds K
sampled answers per fact (temperature, top_p) and derives, per fact, ``n_correct_samples``,
``p_correct`` (share of correct samples), ``latent`` (greedy wrong and at least one sample right,
so latent facts are wrong at epoch 0 by construction) and ``mastery``, the four SliCK levels
(:data:`factsurv.tables.MASTERY_LEVELS`).

Sampling is batch- and order-invariant: each fact's samples depend only on (probe seed, fact_id,
the model, the prompt); see :mod:`factsurv.modeling.generation`.
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
from factsurv.io import InputError, read_tsv
from factsurv.modeling import loading
from factsurv.modeling.facts import read_facts
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
from factsurv.tables import EVAL_REQUIRED, MASTERY_LEVELS, PROBE_COLUMNS

log = logging.getLogger("factsurv")

SAMPLE_SEP = " || "


@dataclass(frozen=True)
class ProbeSettings:
    """The run's ``probe:`` block and its ``threads``. No defaults here: :meth:`from_params` fills
    what the block leaves out from the config schema (``definitions.run.probe``)."""

    k: int
    temperature: float
    top_p: float
    seed: int
    batch_size: int
    max_new_tokens: int
    threads: int  # torch CPU threads (runs.<run>.threads; 0 leaves torch's choice)

    @classmethod
    def from_params(cls, probe: dict[str, Any], threads: int) -> "ProbeSettings":
        """``probe`` filled from the schema's defaults; an unknown key raises
        :class:`factsurv.config.ConfigError`."""
        from factsurv.config import refuse_unknown_keys, section_defaults

        refuse_unknown_keys(probe, set(cls.__dataclass_fields__) - {"threads"}, "runs.<run>.probe")
        return cls(**{**section_defaults("definitions.run.probe"), **probe}, threads=int(threads))


def mastery(greedy_correct: int, n_correct: int, n_samples: int) -> str:
    """The SliCK level of one fact (one prompt)."""
    if greedy_correct:
        return MASTERY_LEVELS[0] if n_correct == n_samples else MASTERY_LEVELS[1]
    return MASTERY_LEVELS[2] if n_correct > 0 else MASTERY_LEVELS[3]


def read_greedy(path: str | os.PathLike[str], facts: pd.DataFrame) -> pd.DataFrame:
    """The epoch-0 eval table, aligned with ``facts`` (every fact once, epoch 0)."""
    table = read_tsv(path, EVAL_REQUIRED, dtype={"fact_id": str, "prediction": str})
    if (pd.to_numeric(table["epoch"], errors="coerce") != 0).any():
        raise InputError(f"{path}: the probe needs the epoch-0 eval table (the untouched model)")
    table = table.drop_duplicates("fact_id").set_index("fact_id")
    missing = [f for f in facts["fact_id"] if f not in table.index]
    if missing:
        raise InputError(f"{path}: no greedy answer for {len(missing)} fact(s), e.g. {missing[:3]}; "
                         "it was made for another facts.tsv")
    out = table.loc[facts["fact_id"]].reset_index()
    out["prediction"] = out["prediction"].fillna("")
    return out


def probe_table(model: Any, tokenizer: Any, facts: pd.DataFrame, greedy: pd.DataFrame, prompt: PromptSettings,
                settings: ProbeSettings) -> pd.DataFrame:
    """The probe table for ``facts`` (in their order); ``greedy`` is the epoch-0 eval table."""
    from tqdm.auto import tqdm

    from factsurv.modeling.generation import generate_answers

    ids = [encode_prompt(tokenizer, p, prompt) for p in render_prompts(tokenizer, facts, prompt)]
    bar = tqdm(total=len(ids), desc=f"sampling k={settings.k}", file=sys.stderr, mininterval=5, ascii=True)
    sampled = generate_answers(model, tokenizer, ids, keys=list(facts["fact_id"].astype(str)),
                               batch_size=settings.batch_size, max_new_tokens=settings.max_new_tokens,
                               num_samples=settings.k, temperature=settings.temperature,
                               top_p=settings.top_p, seed=settings.seed, prefixes=prompt.prefixes, progress=bar)
    bar.close()
    gold = [str(g) for g in facts["term_id"]]
    n_correct = [sum(prompts.is_correct(a.text, g, prompt.prefixes) for a in s) for s, g in zip(sampled, gold)]
    greedy_correct = pd.to_numeric(greedy["correct"]).astype(int).to_numpy()
    out = pd.DataFrame({
        "fact_id": facts["fact_id"].to_numpy(),
        "greedy_prediction": greedy["prediction"].to_numpy(),
        "greedy_correct": greedy_correct,
        "n_samples": settings.k,
        "n_correct_samples": n_correct,
        "samples": [SAMPLE_SEP.join(a.text for a in s) for s in sampled],
    })
    out["p_correct"] = out["n_correct_samples"] / out["n_samples"]
    out["latent"] = ((out["greedy_correct"] == 0) & (out["n_correct_samples"] > 0)).astype(int)
    out["mastery"] = [mastery(g, n, settings.k) for g, n in zip(greedy_correct, n_correct)]
    return out[list(PROBE_COLUMNS)]


def probe_baseline(spec: dict[str, Any], facts_path: str | os.PathLike[str], greedy_path: str | os.PathLike[str],
                   prompt: PromptSettings, settings: ProbeSettings, *, device: str | None = None) -> pd.DataFrame:
    """What ``probe_baseline`` does: load the base model and sample every fact."""
    loading.set_threads(settings.threads)
    facts = read_facts(facts_path)
    greedy = read_greedy(greedy_path, facts)
    t0 = time.perf_counter()
    tokenizer = loading.load_tokenizer(spec)
    model = loading.load_model(spec, device=device)
    t1 = time.perf_counter()
    table = probe_table(model, tokenizer, facts, greedy, prompt, settings)
    t2 = time.perf_counter()
    n_samples = len(table) * settings.k
    log.info("probe: %d facts, k=%d, load %.1f s, sampling %.1f s (%.0f samples/s); greedy correct %.4f, "
             "latent %.4f, mean p_correct %.4f; mastery %s", len(table), settings.k, t1 - t0, t2 - t1,
             n_samples / max(t2 - t1, 1e-9), table["greedy_correct"].mean(), table["latent"].mean(),
             table["p_correct"].mean(), table["mastery"].value_counts().to_dict())
    return table
