"""Greedy evaluation after every epoch: ``results/{run}/eval/epoch_{e}.tsv``.

Columns (:data:`factsurv.tables.EVAL_COLUMNS`) for every fact (trained and withheld): ``prediction``
is the raw answer text on one line, ``correct`` is 1 when its normalised identifier (SPEC §1,
:mod:`factsurv.prompts`) equals the fact's ``term_id``, ``answer_logprob`` / ``answer_tokens``
give the answer's confidence, and ``gold_logprob`` / ``gold_tokens`` the teacher-forced
log-probability of the right answer (a validation loss per fact, without sampling). Epoch 0 is the untouched base model; its table is also the probe's
greedy pass (one source of truth for "known at baseline").
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import pandas as pd

from factsurv import prompts
from factsurv.modeling import checkpoint as ckpt
from factsurv.modeling import loading
from factsurv.modeling.facts import read_facts
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
from factsurv.tables import EVAL_COLUMNS

log = logging.getLogger("factsurv")


def load_trained(spec: dict[str, Any], checkpoint_dir: str | os.PathLike[str] | None, *,
                 device: str | None = None, epoch: int | None = None) -> tuple[Any, Any, dict[str, Any] | None]:
    """(model, tokenizer, checkpoint meta): the base model, with a checkpoint's weights applied
    when one is given. A checkpoint from another base model is refused.

    A LoRA or QLoRA checkpoint is scored as it was trained: the adapter stays unmerged (the base's
    own dtype, the adapter in fp32), so the model is exactly the trained one. Merging into a bf16
    base (``merge_and_unload``) would round every updated weight to bf16 and drop updates smaller
    than half a bf16 step, most of an early epoch's (tests/test_eval_precision.py). Only the
    weight files of the checkpoint are checked against their sha256, not the trainer state (which
    evaluation never reads)."""
    import torch

    tokenizer = loading.load_tokenizer(spec)
    if checkpoint_dir is None:
        return loading.load_model(spec, device=device), tokenizer, None
    meta = ckpt.read_meta(checkpoint_dir, verify=False)
    weights = {k: v for k, v in (meta.get("files") or {}).items() if k != ckpt.TRAINER_STATE}
    ckpt.verify_files(checkpoint_dir, {"files": weights})
    ckpt.check_compatible(meta, base=loading.describe(spec), epoch=epoch, source=str(checkpoint_dir))
    torch.manual_seed(0)  # LoRA init is overwritten by the checkpoint; keep it deterministic anyway
    model = loading.build_trainable_model(spec, meta["method"], meta.get("lora") or {}, device=device)
    ckpt.load_weights(model, checkpoint_dir, meta["method"])
    model.eval()
    return model, tokenizer, meta


def greedy_table(model: Any, tokenizer: Any, facts: pd.DataFrame, prompt: PromptSettings, *,
                 batch_size: int, max_new_tokens: int) -> pd.DataFrame:
    """fact_id, prediction, correct, answer_logprob, answer_tokens for every fact, greedy decoding."""
    from tqdm.auto import tqdm

    from factsurv.modeling.generation import generate_answers

    ids = [encode_prompt(tokenizer, p, prompt) for p in render_prompts(tokenizer, facts, prompt)]
    bar = tqdm(total=len(ids), desc="greedy", file=sys.stderr, mininterval=5, ascii=True)
    answers = generate_answers(model, tokenizer, ids, keys=list(facts["fact_id"].astype(str)),
                               batch_size=batch_size, max_new_tokens=max_new_tokens,
                               prefixes=prompt.prefixes, progress=bar)
    bar.close()
    first = [a[0] for a in answers]
    pred = [a.text for a in first]
    correct = [int(prompts.is_correct(p, str(g), prompt.prefixes)) for p, g in zip(pred, facts["term_id"])]
    gold, gold_tokens = gold_logprobs(model, tokenizer, facts, prompt, batch_size=batch_size)
    return pd.DataFrame({
        "fact_id": facts["fact_id"].to_numpy(), "prediction": pred, "correct": correct,
        "answer_logprob": [round(a.logprob, 6) for a in first], "answer_tokens": [a.tokens for a in first],
        "gold_logprob": [round(g, 6) for g in gold], "gold_tokens": gold_tokens,
    })


def gold_logprobs(model: Any, tokenizer: Any, facts: pd.DataFrame, prompt: PromptSettings, *,
                  batch_size: int) -> tuple[list[float], list[int]]:
    """Per fact, the teacher-forced summed log-probability of its right answer (the identifier and
    the end token: the labels ``train_epoch`` trains on, :func:`factsurv.modeling.train.encode_examples`)
    and the number of those tokens; the logits in float32 (:func:`factsurv.modeling.generation.fp32_logits`)."""
    import torch

    from factsurv.designs import QUESTION
    from factsurv.modeling.generation import fp32_logits
    from factsurv.modeling.train import IGNORE, encode_examples

    keys = [(str(f), QUESTION, "") for f in facts["fact_id"]]
    examples = encode_examples(tokenizer, facts.set_index("fact_id", drop=False), prompt, keys)
    pad = tokenizer.pad_token_id
    out_lp: list[float] = []
    out_n: list[int] = []
    device = next(model.parameters()).device
    with torch.inference_mode(), fp32_logits(model):
        for start in range(0, len(examples), batch_size):
            batch = examples[start:start + batch_size]
            width = max(len(x) for x, _ in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch], device=device)
            labels = torch.tensor([y + [IGNORE] * (width - len(y)) for _, y in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in batch], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            keep = target != IGNORE
            picked = torch.log_softmax(logits[keep].float(), dim=-1).gather(1, target[keep][:, None])[:, 0]
            row = keep.nonzero()[:, 0]
            sums = torch.zeros(len(batch), device=device).index_add_(0, row, picked)
            out_lp += sums.tolist()
            out_n += keep.sum(dim=1).tolist()
    return out_lp, out_n


def load_epoch_model(spec: dict[str, Any], epoch: int, checkpoint_dir: str | os.PathLike[str] | None, *,
                     threads: int = 0, device: str | None = None) -> tuple[Any, Any]:
    """Model and tokenizer after ``epoch`` (0: ``checkpoint_dir`` None, the untouched model), with the
    job's fixed thread count set first."""
    epoch = int(epoch)
    if (checkpoint_dir is None) != (epoch == 0):
        raise ValueError(f"epoch {epoch}: {'no' if epoch == 0 else 'a'} checkpoint is expected")
    loading.set_threads(threads)
    model, tokenizer, _ = load_trained(spec, checkpoint_dir, device=device, epoch=epoch if epoch else None)
    return model, tokenizer


def evaluate_epoch(spec: dict[str, Any], facts_path: str | os.PathLike[str], epoch: int,
                   prompt: PromptSettings, *, checkpoint_dir: str | os.PathLike[str] | None = None,
                   batch_size: int, max_new_tokens: int, threads: int = 0,
                   device: str | None = None) -> pd.DataFrame:
    """The eval table of one epoch (epoch 0: ``checkpoint_dir`` None, the untouched model)."""
    epoch = int(epoch)
    facts = read_facts(facts_path)
    t0 = time.perf_counter()
    model, tokenizer = load_epoch_model(spec, epoch, checkpoint_dir, threads=threads, device=device)
    t1 = time.perf_counter()
    table = greedy_table(model, tokenizer, facts, prompt, batch_size=batch_size, max_new_tokens=max_new_tokens)
    t2 = time.perf_counter()
    table.insert(1, "epoch", epoch)
    by_split = table.assign(split=facts["split"].to_numpy()).groupby("split")["correct"].mean()
    log.info("epoch %d: load %.1f s, eval %.1f s (%.0f facts/s); correct share by split %s", epoch,
             t1 - t0, t2 - t1, len(table) / max(t2 - t1, 1e-9), by_split.round(4).to_dict())
    return table[list(EVAL_COLUMNS)]
