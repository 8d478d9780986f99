"""Fine-tuning one epoch at a time, resumable exactly (a torchtune-style recipe).

:class:`EpochRecipe` holds the whole loop: ``setup`` (base model, method, optimizer, schedule, and
the state of the previous epoch when resuming), ``run_epoch`` (one pass over the epoch's rows of
the training plan, in their order), and ``save_checkpoint`` (weights AND recipe state). Running
epochs 1..3 as three processes that each resume from the previous checkpoint gives the same
weights as one process running three epochs.

The training plan (``results/{run}/train_plan.tsv``, :mod:`factsurv.designs`) says which examples
each epoch trains on: questions (prompt masked, answer + EOS trained) and statements (the whole text
trained). The recipe knows nothing of designs. The learning-rate schedule (linear warm-up, then
linear decay to 0) spans the whole plan, which spans ``training.schedule_epochs``, not the number of
epochs the run trains, so raising a run's ``epochs`` leaves the earlier epochs as they were. A
checkpoint records its resume record (the settings an epoch must share with the one it continues and
the training plan's sha256), and a resumed epoch refuses another.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from factsurv.designs import QUESTION, build_plan, default_design, epoch_order
from factsurv.io import InputError
from factsurv.modeling import checkpoint as ckpt
from factsurv.modeling import loading
from factsurv.modeling.loading import METHODS, build_trainable_model
from factsurv.modeling.facts import train_facts
from factsurv.prompts import (
    PromptSettings,
    encode_prompt,
    encode_statement,
    encode_target,
    render_prompts,
    split_trailing_space,
)

log = logging.getLogger("factsurv")

IGNORE = -100


def encode_examples(tokenizer: Any, facts: pd.DataFrame, prompt: PromptSettings,
                    keys: list[tuple[str, str, str]],
                    cache: dict[tuple[str, str, str], tuple[list[int], list[int]]] | None = None,
                    ) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) of training examples keyed (fact_id, format, text) as the training plan's rows:
    a question's prompt tokens masked with -100 and its answer + EOS kept; a statement's tokens all
    kept. ``facts`` is indexed by fact_id; ``cache`` (filled here) spares re-encoding."""
    cache = {} if cache is None else cache
    todo = [k for k in dict.fromkeys(keys) if k not in cache]
    questions = [k for k in todo if k[1] == QUESTION]
    if questions:
        rows = facts.loc[[f for f, _, _ in questions]]
        for key, text, target in zip(questions, render_prompts(tokenizer, rows, prompt), rows["term_id"]):
            _, lead = split_trailing_space(tokenizer, text, prompt)
            p = encode_prompt(tokenizer, text, prompt)
            t = encode_target(tokenizer, str(target), lead)
            cache[key] = (p + t, [IGNORE] * len(p) + t)
    for key in todo:
        if key[1] != QUESTION:
            ids = encode_statement(tokenizer, key[2])
            cache[key] = (ids, list(ids))
    return [cache[k] for k in keys]


@dataclass(frozen=True)
class TrainSettings:
    """The run's ``training:`` block, its ``threads`` and seed (what ``train_epoch`` receives through
    params). No defaults here: :meth:`from_params` fills what the block leaves out from the config
    schema (``definitions.run.training``)."""

    method: str
    lr: float
    schedule_epochs: int
    warmup_ratio: float
    batch_size: int
    grad_accum: int
    weight_decay: float
    max_grad_norm: float
    gradient_checkpointing: bool
    threads: int  # torch CPU threads (runs.<run>.threads; 0 leaves torch's choice)
    lora: dict[str, Any]
    seed: int

    @classmethod
    def from_params(cls, training: dict[str, Any], seed: int, threads: int) -> "TrainSettings":
        """``training`` filled from the schema's defaults (``lora`` key by key); an unknown key or
        method raises :class:`factsurv.config.ConfigError`."""
        from factsurv.config import ConfigError, refuse_unknown_keys, section_defaults

        refuse_unknown_keys(training, set(cls.__dataclass_fields__) - {"seed", "threads"}, "runs.<run>.training")
        defaults = section_defaults("definitions.run.training")
        values = {**defaults, **training}
        values["lora"] = {**defaults["lora"], **dict(training.get("lora") or {})}
        values["lora"]["target_modules"] = list(values["lora"]["target_modules"])
        s = cls(**values, threads=int(threads), seed=int(seed))
        if s.method not in METHODS:
            raise ConfigError(f"config error at runs.<run>.training.method: {s.method!r} is not one of {METHODS}")
        return s

    def resume_settings(self) -> dict[str, Any]:
        """Settings a resumed epoch must share with the checkpoint it continues."""
        d = asdict(self)
        for k in ("threads", "gradient_checkpointing", "lora", "method"):
            d.pop(k)
        return d


__all__ = ["EpochRecipe", "TrainSettings", "autocast_enabled", "encode_examples", "epoch_order", "linear_schedule",
           "train_epoch", "train_epochs"]


def autocast_enabled(device: str, method: str) -> bool:
    """bf16 autocast of the forward pass: on GPU for every method. QLoRA included: its 4-bit
    layers compute in bf16 (bnb_4bit_compute_dtype), but prepare_model_for_kbit_training casts the
    rest (norms, embeddings, the head) to fp32, and without autocast activations and attention run
    in fp32 (twice the memory, several times slower). On CPU bf16 is no faster: never."""
    if method not in METHODS:
        raise InputError(f"training.method: {method!r} is not one of {METHODS}")
    return device.startswith("cuda")


def steps_in(n_examples: int, batch_size: int, grad_accum: int) -> int:
    """Optimizer steps of an epoch of ``n_examples``."""
    return math.ceil(math.ceil(n_examples / batch_size) / grad_accum)


def linear_schedule(warmup: int, total: int):
    """LR multiplier: linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _rng_state() -> dict[str, Any]:
    import random

    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import random

    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochRecipe:
    """One fine-tuning run, an epoch at a time: setup → train_epoch → save_checkpoint."""

    def __init__(self, spec: dict[str, Any], facts: pd.DataFrame, settings: TrainSettings,
                 prompt: PromptSettings, *, train_plan: pd.DataFrame | None = None,
                 train_plan_sha256: str | None = None, device: str | None = None, facts_source: str = "facts.tsv"):
        """``train_plan``: the run's training plan, every epoch's examples in order (None: the default
        design's, built here from ``facts``); ``train_plan_sha256``: its file's hash."""
        self.spec = spec
        self.settings = settings
        self.prompt = prompt
        self.device = loading.select_device(device)
        if train_plan is None:
            train_facts(facts, facts_source)  # a clear error for an empty training split
            train_plan = build_plan(facts, default_design(), settings.seed, settings.schedule_epochs,
                                    prompt.ontology_names)
        unknown = sorted(set(train_plan["fact_id"]) - set(facts["fact_id"]))
        if unknown:
            raise InputError(f"training plan: {len(unknown)} fact_id(s) not in {facts_source}, e.g. {unknown[0]!r}")
        self.facts = facts.set_index("fact_id", drop=False)
        self.train_plan = train_plan.sort_values(["epoch", "position"], kind="stable").reset_index(drop=True)
        self.train_plan_sha256 = train_plan_sha256
        self.epoch = 0
        self.step = 0

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, resume_from: str | os.PathLike[str] | None = None) -> None:
        """Load the base model, apply the method, tokenise the examples, build optimizer and
        schedule; when resuming, check the checkpoint belongs to this run and restore its state."""
        import torch

        s = self.settings
        loading.set_threads(s.threads)
        self.base = loading.describe(self.spec)
        meta = None
        if resume_from is not None:
            meta = ckpt.read_meta(resume_from)
            ckpt.check_compatible(meta, base=self.base, method=s.method, lora=s.lora, plan=self._resume_record(),
                                  source=str(resume_from))
        torch.manual_seed(s.seed)
        self.tokenizer = loading.load_tokenizer(self.spec)
        self.model = build_trainable_model(self.spec, s.method, s.lora, device=self.device,
                                           gradient_checkpointing=s.gradient_checkpointing)
        self._encoded: dict[tuple[str, str, str], tuple[list[int], list[int]]] = {}
        params = [p for p in self.model.parameters() if p.requires_grad]
        # fused AdamW on GPU (one kernel for all parameters); the plain loop elsewhere
        fused = self.device.startswith("cuda") and all(p.is_cuda for p in params)
        self.optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay, fused=fused or None)
        self.trainable = params
        # the schedule spans the whole training plan (epochs 1..schedule_epochs), whatever each epoch holds
        sizes = self.train_plan.groupby("epoch").size()
        total = sum(steps_in(int(n), s.batch_size, s.grad_accum) for n in sizes)
        self.steps_per_epoch = steps_in(int(sizes.iloc[0]), s.batch_size, s.grad_accum)  # of epoch 1
        warmup = math.ceil(s.warmup_ratio * total)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, linear_schedule(warmup, total))
        if meta is not None:
            ckpt.load_weights(self.model, resume_from, s.method)
            state = ckpt.load_trainer_state(resume_from)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            self.epoch = int(meta["epoch"])
            _set_rng_state(state["rng"])
        self.autocast = autocast_enabled(self.device, s.method)

    def _resume_record(self) -> dict[str, Any]:
        """What a resumed epoch must share with its checkpoint: the settings and the training plan's hash."""
        return {**self.settings.resume_settings(), "train_plan_sha256": self.train_plan_sha256}

    def epoch_examples(self, epoch: int) -> list[tuple[list[int], list[int]]]:
        """(input_ids, labels) of the epoch's rows of the training plan, in order: a question's prompt
        tokens masked with -100 and its answer + EOS kept; a statement's tokens all kept."""
        train_plan = self.train_plan
        epoch_rows = train_plan[train_plan["epoch"] == epoch]
        if epoch_rows.empty:
            raise InputError(f"the training plan has no example for epoch {epoch} (it spans epochs "
                             f"{int(train_plan['epoch'].min())}..{int(train_plan['epoch'].max())})")
        keys = list(zip(epoch_rows["fact_id"], epoch_rows["format"], epoch_rows["text"]))
        return encode_examples(self.tokenizer, self.facts, self.prompt, keys, cache=self._encoded)

    def _collate(self, batch: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
        import torch

        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for ids, _ in batch)
        ids = [x + [pad] * (width - len(x)) for x, _ in batch]
        labels = [y + [IGNORE] * (width - len(y)) for _, y in batch]
        mask = [[1] * len(x) + [0] * (width - len(x)) for x, _ in batch]
        t = lambda v: torch.tensor(v, device=self.device)  # noqa: E731
        return {"input_ids": t(ids), "labels": t(labels), "attention_mask": t(mask)}

    # -- train ---------------------------------------------------------------------------------
    def run_epoch(self, epoch: int | None = None) -> dict[str, Any]:
        """One pass over the epoch's rows of the training plan; returns loss, tokens, seconds."""
        import torch
        from tqdm.auto import tqdm

        s = self.settings
        epoch = self.epoch + 1 if epoch is None else int(epoch)
        if epoch != self.epoch + 1:
            raise InputError(f"epoch {epoch} cannot follow epoch {self.epoch} (resume from epoch {epoch - 1})")
        if epoch > s.schedule_epochs:
            log.warning("epoch %d is past training.schedule_epochs=%d: the learning rate is 0",
                        epoch, s.schedule_epochs)
        examples = self.epoch_examples(epoch)
        self.n_examples = len(examples)
        self.steps_per_epoch = steps_in(len(examples), s.batch_size, s.grad_accum)
        batches = [examples[i:i + s.batch_size] for i in range(0, len(examples), s.batch_size)]
        self.model.train()
        t0 = time.perf_counter()
        # loss and token sums stay on the device: no host sync per micro-batch
        total_loss = torch.zeros((), device=self.model.device)
        n_tokens = torch.zeros((), dtype=torch.long, device=self.model.device)
        n_batches = 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}", file=sys.stderr, mininterval=5, ascii=True)
        for b, items in enumerate(batches):
            batch = self._collate(items)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
                loss = self.model(**batch).loss
            (loss / s.grad_accum).backward()
            total_loss += loss.detach().float()
            n_tokens += batch["attention_mask"].sum()
            n_batches += 1
            if (b + 1) % s.grad_accum == 0 or b + 1 == len(batches):
                if s.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.trainable, s.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
            bar.update(1)
        bar.close()
        self.epoch = epoch
        total_loss, n_tokens = float(total_loss), int(n_tokens)
        seconds = time.perf_counter() - t0
        stats = {"epoch": epoch, "loss": total_loss / max(1, n_batches), "tokens": n_tokens,
                 "seconds": seconds, "tokens_per_s": n_tokens / seconds if seconds else None,
                 "step": self.step, "lr": self.scheduler.get_last_lr()[0]}
        log.info("epoch %d: loss %.4f, %d tokens in %.1f s (%.0f tokens/s), step %d, lr %.3g", epoch,
                 stats["loss"], n_tokens, seconds, stats["tokens_per_s"] or 0, self.step, stats["lr"])
        return stats

    # -- save ----------------------------------------------------------------------------------
    def save_checkpoint(self, out_dir: str | os.PathLike[str], stats: dict[str, Any] | None = None) -> None:
        s = self.settings
        meta = {  # "plan" holds the resume record (the key that checkpoint.check_compatible reads)
            "base": self.base, "method": s.method,
            "lora": s.lora if s.method in ("lora", "qlora") else None,
            "plan": self._resume_record(), "epoch": self.epoch, "seed": s.seed, "step": self.step,
            "n_train": getattr(self, "n_examples", None), "prompt": self.prompt.as_dict(), "stats": stats,
        }
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "step": self.step, "epoch": self.epoch, "rng": _rng_state()}
        ckpt.save(out_dir, self.model, meta, state)
        log.info("checkpoint of epoch %d written to %s", self.epoch, out_dir)


def train_epoch(spec: dict[str, Any], facts_path: str | os.PathLike[str], epoch: int,
                out_dir: str | os.PathLike[str], settings: TrainSettings, prompt: PromptSettings,
                *, previous: str | os.PathLike[str] | None = None, device: str | None = None,
                plan_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What ``train_epoch`` does: resume from ``previous`` (epoch−1; None for epoch 1), train one
    epoch on its rows of the training plan at ``plan_path`` (None: the default design's) and write its
    checkpoint to ``out_dir``."""
    from factsurv.designs import plan_sha256, read_plan
    from factsurv.modeling.facts import read_facts

    epoch = int(epoch)
    if epoch < 1:
        raise InputError(f"epoch must be ≥ 1, got {epoch}")
    if (previous is None) != (epoch == 1):
        raise InputError(f"epoch {epoch}: {'a' if epoch > 1 else 'no'} previous checkpoint is needed")
    train_plan = train_plan_sha = None
    if plan_path is not None:
        train_plan, train_plan_sha = read_plan(plan_path), plan_sha256(plan_path)
    recipe = EpochRecipe(spec, read_facts(facts_path), settings, prompt, train_plan=train_plan,
                         train_plan_sha256=train_plan_sha, device=device, facts_source=str(facts_path))
    if previous is not None:
        meta = ckpt.read_meta(previous)
        if meta.get("epoch") != epoch - 1:
            raise ckpt.CheckpointMismatch(f"{previous}: is epoch {meta.get('epoch')}, expected {epoch - 1}")
    recipe.setup(previous)
    stats = recipe.run_epoch(epoch)
    recipe.save_checkpoint(out_dir, stats)
    return stats


def train_epochs(spec: dict[str, Any], facts_path: str | os.PathLike[str], epochs: int,
                 out_root: str | os.PathLike[str] | None, settings: TrainSettings, prompt: PromptSettings,
                 *, device: str | None = None, plan_path: str | os.PathLike[str] | None = None) -> "EpochRecipe":
    """Train ``epochs`` epochs in one process (reference for the resume test and the benchmark);
    writes ``out_root/epoch_{e}`` after every epoch when ``out_root`` is given."""
    from factsurv.modeling.facts import read_facts

    from factsurv.designs import plan_sha256, read_plan

    train_plan = train_plan_sha = None
    if plan_path is not None:
        train_plan, train_plan_sha = read_plan(plan_path), plan_sha256(plan_path)
    recipe = EpochRecipe(spec, read_facts(facts_path), settings, prompt, train_plan=train_plan,
                         train_plan_sha256=train_plan_sha, device=device)
    recipe.setup(None)
    for e in range(1, int(epochs) + 1):
        stats = recipe.run_epoch(e)
        if out_root is not None:
            recipe.save_checkpoint(Path(out_root) / f"epoch_{e}", stats)
    return recipe
