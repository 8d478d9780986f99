"""Answer generation for evaluation and the probe: one decoding loop, greedy or sampled.

- **Prefill once**: the tokens that all prompts of a batch begin with (the question template, a chat
  template's system header) are run once and their key/value cache copied to every row; then each
  prompt's own part (left-padded after the shared part) is run once, however many samples follow.
  Batches are formed (:func:`make_batches`) within groups of prompts that share their longest common
  beginning (the template up to the ontology's name), longest first, so the shared part is long and
  padding short; the batches depend only on the set of prompts, not on their order.
- **Shared sample paths**: the model runs once per (prompt, answer so far), and every sample row
  with that history draws its own next token from the same distribution; rows that draw the same
  token stay together. The K samples of a confident model cost about one greedy answer; the draws
  are exactly those of K independent rows.
- **Batch- and order-invariant sampling**: sample *j* of a fact takes, at answer step *t*, the
  token ``argmax_v(logit_v / temperature + g_v)`` within the top-p nucleus (Gumbel-max), where
  ``g = gumbel(seed, key, j, t)`` is one Gumbel number per vocabulary entry from a counter-based
  hash (a splitmix64 stream started at a hash of the probe seed, the fact's key, its ``fact_id``,
  *j* and *t*), computed in integer arithmetic on the model's device (the same numbers on a GPU).
  A fact's samples therefore do not depend on the batch size, on the other facts or on their order
  (only on the model's logits for that prompt); and, unlike an inverse-CDF draw (whose cumulative sum
  over the whole vocabulary moves every interval when any logit moves), a draw changes under the
  float noise of another batch shape only when the top two perturbed scores are that close: about
  once in 10^4 draws at a logit noise of 1e-4, where inverse-CDF changed a draw of a 49k-token
  vocabulary within a dozen steps (seen on one CPU, not on another).
- **Stopping on the answer**: a sequence ends at EOS, once its text holds an identifier followed by
  a non-digit, or once the digits run past 7 (``HP:00012501`` is then seen, and is wrong); finished
  rows leave the batch (the cache is reselected only on steps where some row finished or split). Token texts come from a table built once per tokenizer, so no sequence is
  decoded while it is generated; the answer text is decoded once at the end.
- Each answer's summed log-probability (under the temperature-1 distribution of the model) and
  token count come back with it: the confidence of a greedy answer is their ratio.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from factsurv import prompts

log = logging.getLogger("factsurv")

_M1, _M2, _GOLDEN = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15  # splitmix64's
_MASK = (1 << 64) - 1


def key_hash(key: str) -> int:
    """A stable 64-bit number for a fact's key (independent of Python's hash seed)."""
    return int.from_bytes(hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest(), "little")


def _mix64(x: int) -> int:
    """splitmix64's finaliser on a Python int (the scalar twin of :func:`_mix_tensor`)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return x ^ (x >> 31)


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def row_word(seed: int, key: str, sample: int, step: int) -> int:
    """The 64-bit start of the noise stream of sample ``sample`` of ``key`` at answer step ``step``."""
    base = _mix64((int(seed) & _MASK) * _GOLDEN + _GOLDEN)
    x = _mix64(base ^ _mix64(key_hash(key) + _GOLDEN))
    return _mix64(x ^ (int(sample) * 0x100000 + int(step) + 1))


def _srl(x: Any, k: int) -> Any:
    """Logical right shift of int64 tensors holding uint64 bits."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix_tensor(x: Any) -> Any:
    """splitmix64's finaliser on int64 tensors (two's-complement products wrap as uint64 ones do)."""
    x = (x ^ _srl(x, 30)) * _signed(_M1)
    x = (x ^ _srl(x, 27)) * _signed(_M2)
    return x ^ _srl(x, 31)


def gumbel_noise(words: Sequence[int], vocab: int, device: Any = "cpu") -> Any:
    """``g[r, v]``, float32 on ``device``: standard Gumbel numbers ``-log(-log(u))``, where ``u`` is the
    top 24 bits (plus half a step) of entry ``v`` of the splitmix64 stream that starts at
    ``words[r]`` (:func:`row_word`). Integer arithmetic on the device itself, so the numbers are the
    same on a CPU and a GPU, and cost a few elementwise passes over (rows, vocab)."""
    import torch

    start = torch.tensor([_signed(w) for w in words], dtype=torch.int64, device=device)[:, None]
    offsets = torch.arange(1, int(vocab) + 1, dtype=torch.int64, device=device) * _signed(_GOLDEN)
    bits = _srl(_mix_tensor(start + offsets[None, :]), 40)
    u = (bits.to(torch.float32) + 0.5) * (1.0 / (1 << 24))
    return -torch.log(-torch.log(u))


def sample_noise(seed: int, key: str, sample: int, step: int, vocab: int) -> np.ndarray:
    """The Gumbel numbers of sample ``sample`` of ``key`` at answer step ``step``, one per vocabulary
    entry, as a float32 array (what :func:`generate_answers` adds to that row's scaled logits)."""
    return gumbel_noise([row_word(seed, key, sample, step)], vocab)[0].numpy()


@dataclass(frozen=True)
class Answer:
    """One generated answer: its text, the summed log-probability of its tokens (the end token
    included when one was drawn) and how many tokens that sum covers."""

    text: str
    logprob: float
    tokens: int


def clean(text: str) -> str:
    """Generated text on one line (tabs and newlines collapsed) for the TSV tables."""
    return " ".join(text.split())


@lru_cache(maxsize=8)
def _stop_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(re.escape(p) for p in sorted(set(prefixes), key=len, reverse=True))
    return re.compile(rf"(?:{alts})\s*:\s*(?:\d{{7}}\D|\d{{8}})", re.IGNORECASE)


class _Pieces:
    """The text of every token id (for the stop check), built once per tokenizer."""

    _cache: dict[int, list[str]] = {}

    @classmethod
    def of(cls, tokenizer: Any, vocab: int) -> list[str]:
        key = id(tokenizer)
        if key not in cls._cache or len(cls._cache[key]) < vocab:
            texts = tokenizer.batch_decode([[i] for i in range(vocab)], skip_special_tokens=False)
            cls._cache[key] = list(texts)
        return cls._cache[key]


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every id that ends an answer: the tokenizer's EOS and the model's generation config EOS."""
    ids: set[int] = set()
    for source in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if source is None:
            continue
        ids.update([source] if isinstance(source, int) else list(source))
    return ids


@contextmanager
def fp32_logits(model: Any) -> Iterator[None]:
    """Within the block, the model's output head computes its logits in float32 (a float32 copy of
    its weight, made once): bf16 logits of a large vocabulary are rounded to steps of 1/16-1/8, so
    the top two tokens often tie and greedy decoding would pick by token id, not by the model.
    Nothing changes for a head that is float32 already."""
    import torch

    head = model.get_output_embeddings()
    if head is None or head.weight.dtype == torch.float32:
        yield
        return
    weight = head.weight.detach().float()
    bias = head.bias.detach().float() if getattr(head, "bias", None) is not None else None

    def hook(module: Any, args: tuple[Any, ...], output: Any) -> Any:
        return torch.nn.functional.linear(args[0].float(), weight, bias)

    handle = head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _choose(logits: Any, row_group: Any, noise: Any | None, temperature: float, top_p: float) -> Any:
    """Next token of every row, shape (R,): the argmax of its group's logits (``noise`` None), or the
    Gumbel-max draw ``argmax(logits / temperature + noise)`` over the group's top-p nucleus, with
    ``noise`` (R, V) the rows' Gumbel numbers."""
    import torch

    if noise is None:
        return logits.float().argmax(-1)[row_group]
    scores = logits.float() / temperature
    if top_p < 1.0:
        probs, order = torch.softmax(scores, dim=-1).sort(dim=-1, descending=True)
        outside = torch.zeros_like(scores, dtype=torch.bool)
        outside.scatter_(1, order, probs.cumsum(-1) - probs > top_p)
        scores = scores.masked_fill(outside, float("-inf"))
    return (scores[row_group] + noise).argmax(-1)


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    *,
    keys: Sequence[str] | None = None,
    batch_size: int = 32,
    max_new_tokens: int = 48,
    num_samples: int = 0,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    prefixes: Iterable[str] = prompts.DEFAULT_PREFIXES,
    progress: Any = None,
) -> list[list[Answer]]:
    """The answers per prompt, in the prompts' order: one greedy answer (``num_samples=0``) or
    ``num_samples`` samples, each drawn with the Gumbel numbers keyed by ``keys[i]`` (the facts' ids)."""
    import torch

    prefixes = tuple(prefixes)
    n = len(prompt_ids)
    if keys is None:
        keys = [str(i) for i in range(n)]
    if len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} prompts")
    sampling = num_samples > 0
    reps = num_samples if sampling else 1
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = eos_ids(model, tokenizer)
    vocab = int(model.get_output_embeddings().weight.shape[0])
    pieces = _Pieces.of(tokenizer, vocab)
    pattern = _stop_pattern(prefixes)
    # batches of prompts that share a long beginning and have similar lengths (answers go back to
    # the prompts' order)
    batches = make_batches(prompt_ids, batch_size)
    out: list[list[Answer]] = [[] for _ in range(n)]
    was_training = model.training
    model.eval()
    with torch.inference_mode(), fp32_logits(model):
        for idx in batches:
            answers = _generate_batch(
                model, [prompt_ids[i] for i in idx], [keys[i] for i in idx], reps=reps, sampling=sampling,
                temperature=temperature, top_p=top_p, seed=seed, max_new_tokens=max_new_tokens,
                pad_id=pad_id, stops=stops, pieces=pieces, pattern=pattern, device=device,
            )
            for b, i in enumerate(idx):
                toks = answers[b * reps:(b + 1) * reps]
                texts = tokenizer.batch_decode([t for t, _, _ in toks], skip_special_tokens=True)
                out[i] = [Answer(clean(text), lp, c) for text, (_, lp, c) in zip(texts, toks)]
            if progress is not None:
                progress.update(len(idx))
    model.train(was_training)
    return out


MIN_SHARED_PREFIX = 4


def _prefix_groups(seqs: Sequence[tuple[int, ...]], need: int) -> list[tuple[int, ...]]:
    """Per prompt: its longest beginning that at least ``need`` prompts share (``()`` if none)."""
    n = len(seqs)
    need = max(2, min(int(need), n))
    lex = sorted(range(n), key=lambda i: (seqs[i], i))
    # lcp[j]: tokens shared by the j-th and (j+1)-th prompt in lexicographic order
    lcp = np.empty(n - 1, dtype=np.int64)
    for j in range(n - 1):
        a, b = seqs[lex[j]], seqs[lex[j + 1]]
        m, k = min(len(a), len(b)), 0
        while k < m and a[k] == b[k]:
            k += 1
        lcp[j] = k
    # a run of `need` neighbours shares the minimum of its need-1 lcps; each prompt takes the deepest
    # run it belongs to
    run = np.lib.stride_tricks.sliding_window_view(lcp, need - 1).min(axis=1)  # run r: prompts r..r+need-1
    padded = np.concatenate([np.full(need - 1, -1), run, np.full(need - 1, -1)])
    depth = np.lib.stride_tricks.sliding_window_view(padded, need).max(axis=1)  # prompt p: runs p-need+1..p
    group: list[tuple[int, ...]] = [()] * n
    for pos, i in enumerate(lex):
        group[i] = seqs[i][:max(int(depth[pos]), 0)]
    return group


def make_batches(prompt_ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """The prompts' indices in batches of at most ``batch_size``: prompts are grouped by the longest
    beginning that at least two batches' worth of them share (the question template up to the
    ontology's name, or further), so each batch's shared part is prefilled once; a batch never spans
    two groups (its last batch may be smaller); longest prompts first within a group (little
    padding), ties by the tokens themselves. The batches depend only on the set of prompts, not on
    the order they come in."""
    n = len(prompt_ids)
    size = max(1, int(batch_size))
    if n < 2:
        return [list(range(n))] if n else []
    seqs = [tuple(x) for x in prompt_ids]
    group = _prefix_groups(seqs, 2 * size)
    order = sorted(range(n), key=lambda i: (group[i], -len(seqs[i]), seqs[i], i))
    batches: list[list[int]] = []
    for i in order:
        if not batches or len(batches[-1]) == size or group[batches[-1][0]] != group[i]:
            batches.append([])
        batches[-1].append(i)
    return batches


def batch_order(prompt_ids: Sequence[Sequence[int]], batch_size: int) -> list[int]:
    """The prompts' indices in the order they are batched (:func:`make_batches`, flattened)."""
    return [i for batch in make_batches(prompt_ids, batch_size) for i in batch]


def shared_prefix_length(batch: Sequence[Sequence[int]]) -> int:
    """Tokens all prompts of ``batch`` begin with (leaving each at least one token of its own);
    0 when fewer than :data:`MIN_SHARED_PREFIX` (not worth a separate forward pass)."""
    if len(batch) < 2:
        return 0
    limit = min(len(x) for x in batch) - 1
    first = batch[0]
    n = 0
    while n < limit and all(x[n] == first[n] for x in batch):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


def _generate_batch(model: Any, batch: Sequence[Sequence[int]], keys: Sequence[str], *, reps: int, sampling: bool,
                    temperature: float, top_p: float, seed: int, max_new_tokens: int, pad_id: int,
                    stops: set[int], pieces: list[str], pattern: re.Pattern[str],
                    device: Any) -> list[tuple[list[int], float, int]]:
    """(answer token ids, summed log-probability, tokens scored) per prompt × repetition, prompt-major
    (the end token, when one was drawn, is scored but not kept)."""
    import torch

    common = shared_prefix_length(batch)
    cache = None
    if common:
        # the prompts' shared beginning (template, system prompt) once, its cache copied to every row
        pre = model(input_ids=torch.tensor([list(batch[0][:common])], device=device), use_cache=True,
                    logits_to_keep=1)
        cache = pre.past_key_values
        cache.batch_repeat_interleave(len(batch))
    rest = [list(x[common:]) for x in batch]
    width = max(len(x) for x in rest)
    ids = torch.tensor([[pad_id] * (width - len(x)) + x for x in rest], device=device)
    mask = torch.tensor([[1] * common + [0] * (width - len(x)) + [1] * len(x) for x in rest], device=device)
    position = (mask.cumsum(-1) - 1).clamp(min=0)[:, common:]
    # logits of the last position only: the prefill never materialises (batch, length, vocab)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    logits = out.logits[:, -1, :]
    rows = len(batch) * reps
    # Sample paths are shared: a *group* is one prompt with one answer so far; the model runs once
    # per group, and every sample row in it draws its own next token from the group's distribution.
    # Rows that draw the same token stay together, so a confident model's K samples cost about one.
    members: list[list[int]] = [list(range(b * reps, (b + 1) * reps)) for b in range(len(batch))]
    last_pos = mask.sum(-1, keepdim=True) - 1
    tokens: list[list[int]] = [[] for _ in range(rows)]
    logprob = [0.0] * rows
    scored = [0] * rows
    texts = [""] * len(members)  # per group
    for step in range(max_new_tokens):
        row_group = [g for g, rs in enumerate(members) for _ in rs]
        row_ids = [r for rs in members for r in rs]
        rg = torch.tensor(row_group, device=device)
        noise = None
        if sampling:  # row r is sample r % reps of prompt r // reps
            words = [row_word(seed, keys[r // reps], r % reps, step) for r in row_ids]
            noise = gumbel_noise(words, logits.shape[-1], device)
        nxt = _choose(logits, rg, noise, temperature, top_p)
        lp = torch.log_softmax(logits.float(), -1)[rg, nxt]
        new_groups: dict[tuple[int, int], list[int]] = {}
        for r, g, tok, p in zip(row_ids, row_group, nxt.tolist(), lp.tolist()):
            logprob[r] += p
            scored[r] += 1
            if tok in stops:
                continue
            tokens[r].append(tok)
            new_groups.setdefault((g, tok), []).append(r)
        parents, next_tokens, next_members, next_texts = [], [], [], []
        for (g, tok), rs in new_groups.items():
            text = texts[g] + (pieces[tok] if tok < len(pieces) else "")
            if pattern.search(text):
                continue  # the answer is complete (or has run past its digits)
            parents.append(g)
            next_tokens.append(tok)
            next_members.append(rs)
            next_texts.append(text)
        if not parents or step == max_new_tokens - 1:
            break
        if parents != list(range(len(members))):  # some rows finished or split: the cache follows
            idx = torch.tensor(parents, device=device)
            cache.batch_select_indices(idx)
            mask, last_pos = mask[idx], last_pos[idx]
        mask = torch.cat([mask, torch.ones((len(parents), 1), dtype=mask.dtype, device=device)], dim=-1)
        last_pos = last_pos + 1
        members, texts = next_members, next_texts
        out = model(input_ids=torch.tensor(next_tokens, device=device)[:, None], attention_mask=mask,
                    position_ids=last_pos, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        logits = out.logits[:, -1, :]
    return [(t, lp, c) for t, lp, c in zip(tokens, logprob, scored)]
