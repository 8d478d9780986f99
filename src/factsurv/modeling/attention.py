"""Where attention goes while the model answers: per epoch, layer and head, the share of attention
that the answer positions give to the term's label tokens in the prompt (the mechanism arXiv
2503.21676 describes: as knowledge is acquired, attention to the subject's tokens builds up), beside
the answer loss per epoch and its plateau.

For each fact (at most ``max_facts`` trained facts of the run, chosen by (seed, fact_id)) the
prompt and its answer are fed once, teacher-forced, with eager attention; the query positions are
those that predict the answer's tokens (the last prompt position to the one before the last answer
token), the keys are the label's tokens in the prompt, found by character offsets of the rendered
prompt. ``mass`` is the attention those queries put on the label's keys, averaged over the queries
and the facts; ``label_share`` is the label's share of the prompt's tokens, what attention spread
evenly would give. The answer loss of an epoch is the mean over the same facts of −log p per token
of the correct answer (the identifier and the end token), from the same teacher-forced forward;
its plateau is the first epoch from which it stays within ``plateau_tolerance`` of its final value.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from factsurv.designs import fact_key
from factsurv.io import InputError

log = logging.getLogger("factsurv")


def chosen_facts(fact_ids: list[str], max_facts: int | None, seed: int) -> list[str]:
    """At most ``max_facts`` of ``fact_ids``, chosen by (seed, fact_id), in that order."""
    ids = sorted(set(fact_ids), key=lambda f: fact_key(seed, "attention", f))
    return ids[: int(max_facts)] if max_facts else ids


def label_positions(tokenizer: Any, text: str, label: str, ids: list[int]) -> list[int]:
    """Token positions of ``label`` (its last occurrence) in the prompt ``text`` whose ids are
    ``ids``: the tokens whose characters overlap the label's. Empty when the offsets do not
    reproduce ``ids`` (a slow tokenizer, or special tokens the text does not show)."""
    start = text.rfind(label)
    if start < 0:
        return []
    end = start + len(label)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    got, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    shift = len(ids) - len(got)  # special tokens the encoding adds in front (BOS)
    if shift < 0 or ids[shift:] != got:
        return []
    return [shift + i for i, (a, b) in enumerate(offsets) if a < end and b > start and b > a]


def attention_rows(model: Any, tokenizer: Any, facts: pd.DataFrame, prompt: Any, *, epoch: int,
                   device: str) -> tuple[list[dict[str, Any]], int, float]:
    """(per layer and head: mass and label share averaged over the facts; facts used; their mean
    answer loss per token)."""
    import torch

    from factsurv.prompts import encode_prompt, encode_target, render_prompts, split_trailing_space

    texts = render_prompts(tokenizer, facts, prompt)
    sums: np.ndarray | None = None
    share_sum = loss_sum = 0.0
    used = 0
    with torch.inference_mode():
        for text, label, target in zip(texts, facts["label"], facts["term_id"]):
            _, lead = split_trailing_space(tokenizer, text, prompt)
            p = encode_prompt(tokenizer, text, prompt)
            t = encode_target(tokenizer, str(target), lead)
            keys = label_positions(tokenizer, split_trailing_space(tokenizer, text, prompt)[0], str(label), p)
            if not keys or not t:
                continue
            ids = torch.tensor([p + t], device=device)
            out = model(input_ids=ids, output_attentions=True)
            queries = list(range(len(p) - 1, len(p) + len(t) - 1))
            # (layers, heads): attention of the answer-predicting queries on the label's keys
            mass = torch.stack([a[0][:, queries][:, :, keys].sum(-1).mean(-1) for a in out.attentions])
            logp = torch.log_softmax(out.logits[0, queries].float(), dim=-1)
            loss_sum += float(-logp[torch.arange(len(t)), torch.tensor(t, device=logp.device)].mean())
            sums = mass.float().cpu().numpy() if sums is None else sums + mass.float().cpu().numpy()
            share_sum += len(keys) / len(p)
            used += 1
    if sums is None:
        return [], 0, float("nan")
    means = sums / used
    rows = [{"epoch": int(epoch), "layer": layer, "head": head, "mass": float(means[layer, head]),
             "label_share": share_sum / used, "n_facts": used}
            for layer in range(means.shape[0]) for head in range(means.shape[1])]
    return rows, used, loss_sum / used


def attention_table(spec: dict[str, Any], checkpoints: dict[int, str | os.PathLike[str] | None],
                    facts: pd.DataFrame, prompt: Any, *, max_facts: int | None = 100, seed: int = 0,
                    threads: int = 0, device: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the attention table, the answer loss per epoch: epoch, answer_loss, n_facts) over the
    epochs of ``checkpoints`` (epoch → checkpoint folder, None for the base model) on ``facts``
    (the run's trained facts)."""
    from factsurv.modeling import loading
    from factsurv.modeling.evaluate import load_trained
    from factsurv.tables import ATTENTION_COLUMNS

    loading.set_threads(threads)
    device = loading.select_device(device)
    spec = {**spec, "attn_implementation": "eager"}  # attention weights need the eager kernels
    ids = chosen_facts(list(facts["fact_id"]), max_facts, seed)
    if not ids:
        raise InputError("the attention analysis has no trained fact to read")
    sub = facts.set_index("fact_id", drop=False).loc[ids].reset_index(drop=True)
    rows, losses = [], []
    for epoch, folder in sorted(checkpoints.items()):
        model, tokenizer, _ = load_trained(spec, folder, device=device, epoch=epoch if folder else None)
        r, used, loss = attention_rows(model, tokenizer, sub, prompt, epoch=epoch, device=device)
        losses.append({"epoch": int(epoch), "answer_loss": loss, "n_facts": used})
        if used < len(sub):
            log.warning("epoch %d: %d of %d facts have no label tokens found in their prompt; left out",
                        epoch, len(sub) - used, len(sub))
        rows += r
        del model
    return pd.DataFrame(rows, columns=list(ATTENTION_COLUMNS)), pd.DataFrame(losses)


def plateau_epoch(loss: pd.DataFrame, tolerance: float = 0.05) -> int | None:
    """The first epoch from which the answer loss stays within ``tolerance`` (relative) of the
    last epoch's (None without epochs)."""
    loss = loss.sort_values("epoch")
    if loss.empty:
        return None
    final = loss["answer_loss"].iloc[-1]
    inside = (loss["answer_loss"] - final).abs() <= tolerance * max(abs(final), 1e-12)
    for i in range(len(loss)):
        if inside.iloc[i:].all():
            return int(loss["epoch"].iloc[i])
    return None
