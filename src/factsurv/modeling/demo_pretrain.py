"""Pretraining the demo model on its synthetic corpus: packed blocks, AdamW, warm-up + decay, seeded.

Each pass shuffles the documents (``<s> document </s>``), concatenates them and cuts the stream into
blocks of ``block_size`` tokens (the remainder is dropped); the loss is on every token. ``passes``
may be fractional: the schedule spans ``ceil(passes * blocks_per_pass / batch_size)`` steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PretrainSettings:
    """Config ``models.<name>.demo.pretrain``. No defaults here: :meth:`from_params` fills what
    ``pretrain`` leaves out from the config schema."""

    passes: float
    lr: float
    schedule: str
    min_lr_ratio: float
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    block_size: int
    batch_size: int
    threads: int

    @classmethod
    def from_params(cls, pretrain: Mapping[str, Any], section: str = "models.<name>.demo.pretrain",
                    defaults: str = "definitions.demo_model.pretrain") -> "PretrainSettings":
        """An unknown key, schedule or a non-positive ``passes`` raise :class:`factsurv.config.ConfigError`.
        ``section`` names the block in errors and ``defaults`` is its place in the schema (the demo
        model's pretraining, or a real model's continued pretraining: ``definitions.exposure.pretrain``)."""
        from factsurv.config import ConfigError, refuse_unknown_keys, section_defaults

        refuse_unknown_keys(pretrain, cls.__dataclass_fields__, section)
        s = cls(**{**section_defaults(defaults), **pretrain})
        if s.schedule not in ("cosine", "linear", "constant"):
            raise ConfigError(f"config error at {section}.schedule: must be cosine, linear or constant, "
                              f"not {s.schedule!r}")
        if s.passes <= 0:
            raise ConfigError(f"config error at {section}.passes: must be > 0, not {s.passes}")
        return s


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress
    return min_ratio + (1.0 - min_ratio) * decay


def encode_documents(tokenizer: Any, docs: Sequence[str]) -> list[list[int]]:
    """Token ids of each document: ``<s>`` (added by the tokenizer) + text + ``</s>``.

    A question document is encoded as one text, so ``Answer: HP:0001250`` becomes ``Answer``, ``:``,
    `` HP``, ``:``, digits: the same ids that fine-tuning and the probe use, since they move the
    prompt's trailing space to the start of the answer
    (:func:`factsurv.modeling.facts.split_trailing_space`).
    """
    eos = tokenizer.eos_token_id
    ids = tokenizer(list(docs), add_special_tokens=True)["input_ids"]
    return [list(x) + [eos] for x in ids]


def pack_blocks(encoded: Sequence[Sequence[int]], block_size: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffle the documents, concatenate them and cut into ``(n_blocks, block_size)``."""
    order = rng.permutation(len(encoded))
    stream = np.fromiter((t for i in order for t in encoded[i]), dtype=np.int64)
    n = len(stream) // block_size
    if n == 0:
        raise ValueError(f"corpus has {len(stream)} tokens, fewer than one block of {block_size}")
    return stream[: n * block_size].reshape(n, block_size)


def pretrain(
    model: Any,
    tokenizer: Any,
    docs: Sequence[str],
    settings: PretrainSettings,
    seed: int,
    *,
    progress: bool = True,
    on_pass_end: Callable[[int, Any], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``docs``; return metrics (loss per pass, tokens/s, seconds)."""
    import torch
    from tqdm.auto import tqdm

    torch.set_num_threads(settings.threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoded = encode_documents(tokenizer, docs)
    n_tokens = sum(len(e) for e in encoded)
    blocks_per_pass = n_tokens // settings.block_size
    steps_per_pass = math.ceil(blocks_per_pass / settings.batch_size)
    total_steps = max(1, math.ceil(settings.passes * blocks_per_pass / settings.batch_size))
    warmup = int(settings.warmup_ratio * total_steps)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total_steps, warmup, settings.schedule, settings.min_lr_ratio)
    )
    say = log or (lambda msg: None)
    say(
        f"{len(docs)} documents, {n_tokens} tokens, {blocks_per_pass} blocks of {settings.block_size} "
        f"per pass, {steps_per_pass} steps per pass, {total_steps} steps in all, {torch.get_num_threads()} threads"
    )
    model.train()
    history: list[dict[str, Any]] = []
    step = 0
    start = time.perf_counter()
    bar = tqdm(total=total_steps, disable=not progress, desc="pretrain", mininterval=5.0)
    pass_index = 0
    train_seconds = 0.0
    while step < total_steps:
        pass_index += 1
        blocks = torch.from_numpy(pack_blocks(encoded, settings.block_size, rng))
        t0 = time.perf_counter()
        losses: list[float] = []
        seen = 0
        for b in range(0, len(blocks), settings.batch_size):
            if step >= total_steps:
                break
            batch = blocks[b : b + settings.batch_size].to(model.device)
            out = model(input_ids=batch, labels=batch)
            out.loss.backward()
            if settings.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
            seen += batch.numel()
            step += 1
            bar.update(1)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        record = {
            "pass": pass_index,
            "steps": len(losses),
            "mean_loss": float(np.mean(losses)) if losses else float("nan"),
            "last_loss": losses[-1] if losses else float("nan"),
            "tokens": seen,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(seen / seconds, 1) if seconds > 0 else None,
            "lr_end": sched.get_last_lr()[0],
            "train_s": round(train_seconds, 3),
        }
        history.append(record)
        say(
            f"pass {pass_index}: loss {record['mean_loss']:.4f}, {record['tokens_per_s']} tokens/s, "
            f"{train_seconds:.0f} s"
        )
        if on_pass_end is not None:
            model.eval()
            on_pass_end(pass_index, model)
            model.train()
    bar.close()
    model.eval()
    total = time.perf_counter() - start
    trained = sum(r["tokens"] for r in history)
    return {
        "documents": len(docs),
        "corpus_tokens": n_tokens,
        "blocks_per_pass": blocks_per_pass,
        "total_steps": total_steps,
        "warmup_steps": warmup,
        "trained_tokens": trained,
        "seconds": round(total, 3),
        "train_seconds": round(train_seconds, 3),
        "tokens_per_s": round(trained / train_seconds, 1) if train_seconds > 0 else None,
        "final_loss": history[-1]["mean_loss"] if history else None,
        "threads": torch.get_num_threads(),
        "passes": history,
    }
