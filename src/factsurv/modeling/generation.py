"""Batched answer generation: greedy or sampled, left-padded, stopping once an identifier is complete.

Sampling uses ``num_return_sequences`` so each prompt is encoded once per batch, and a
:class:`IdentifierComplete` stopping criterion ends a sequence as soon as its text holds a full
identifier (``PREFIX:NNNNNNN``) or EOS, so answers cost only the tokens they need.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from factsurv import prompts

log = logging.getLogger("factsurv")


class IdentifierComplete:
    """Stop a sequence once its generated text contains a complete identifier."""

    def __init__(self, tokenizer: Any, prompt_len: int, prefixes: Iterable[str]):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.pattern = prompts.answer_pattern(tuple(prefixes))
        self.done: Any = None

    def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
        import torch

        if self.done is None or self.done.shape[0] != input_ids.shape[0]:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        for i, text in enumerate(texts):
            if not self.done[i] and self.pattern.search(text):
                self.done[i] = True
        return self.done.clone()


def _left_pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    width = max(len(ids) for ids in batch)
    ids = [[pad_id] * (width - len(x)) + list(x) for x in batch]
    mask = [[0] * (width - len(x)) + [1] * len(x) for x in batch]
    return ids, mask


def clean(text: str) -> str:
    """Generated text on one line (tabs and newlines collapsed) for the TSV tables."""
    return " ".join(text.split())


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 16,
    num_samples: int = 0,
    temperature: float = 1.0,
    top_p: float = 1.0,
    prefixes: Iterable[str] = prompts.DEFAULT_PREFIXES,
    progress: Any = None,
) -> list[list[str]]:
    """The answer texts per prompt: one greedy answer (``num_samples=0``) or ``num_samples`` samples.

    The caller seeds torch's RNG before sampling. Returns one list of strings per prompt.
    """
    import torch

    prefixes = tuple(prefixes)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    sampling = num_samples > 0
    n_ret = num_samples if sampling else 1
    out: list[list[str]] = []
    was_training = model.training
    model.eval()
    gen_kwargs: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": pad_id,
        "eos_token_id": tokenizer.eos_token_id,
        "num_return_sequences": n_ret,
    }
    if sampling:
        gen_kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    else:
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    from transformers import StoppingCriteriaList

    with torch.inference_mode():
        for start in range(0, len(prompt_ids), batch_size):
            chunk = prompt_ids[start:start + batch_size]
            ids, mask = _left_pad(chunk, pad_id)
            input_ids = torch.tensor(ids, device=device)
            attention = torch.tensor(mask, device=device)
            stop = IdentifierComplete(tokenizer, input_ids.shape[1], prefixes)
            seqs = model.generate(
                input_ids=input_ids, attention_mask=attention,
                stopping_criteria=StoppingCriteriaList([stop]), **gen_kwargs,
            )
            texts = tokenizer.batch_decode(seqs[:, input_ids.shape[1]:], skip_special_tokens=True)
            for i in range(len(chunk)):
                out.append([clean(t) for t in texts[i * n_ret:(i + 1) * n_ret]])
            if progress is not None:
                progress.update(len(chunk))
    model.train(was_training)
    return out
