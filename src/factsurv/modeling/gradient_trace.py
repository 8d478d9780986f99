"""Shared parameters by a cross-format gradient trace: which weights both the fact-storing
(statement) and the fact-recalling (question) examples of the same facts pull on strongly.

This is **our reconstruction** of the analysis of arXiv 2505.16178, whose authors released no code
and do not give the exact selection rule or their "size" and "centralization" formulas. What we do
(docs/parameters.md, "Shared parameters"):

1. Take the model of an epoch (the base model for epoch 0; a LoRA adapter merged in float32) and
   the facts of the run's plan that are trained in both formats (at most ``max_facts``, drawn by
   (seed, fact_id)); each fact's question and its first statement in the plan.
2. Per format, accumulate a per-element attribution over the examples of those facts, one
   backward pass per micro-batch of ``batch_size`` examples (1: per example) of the mean token
   loss: ``|grad|`` (``attribution: grad``) or ``|grad * theta|`` (``grad_x_weight``), over the
   transformer layers' matrices (names with ``layers``, norms excluded: the restore's region).
3. Per format, the global top ``top_percent`` % of the region's elements by attribution; the
   **shared set** is their intersection. Reported: its size, its share of the top set, the
   Jaccard index, and the overlap two independent random sets of that size would have (k²/n).
4. **Centralization** of the shared set: the share of it in the top ``top_units_percent`` % of
   units, those that hold the most of it (a unit: one attention head of a q/k/v/o projection, by rows of q/k/v and columns of
   o; one whole matrix otherwise), and the Gini coefficient of its counts over layers and over
   (layer, head) pairs.
5. Per matrix, the cosine between the mean statement gradient and the mean question gradient
   (the second version of the paper frames sharing as gradient consistency across formats).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from factsurv.designs import QUESTION, STATEMENT, fact_key
from factsurv.io import InputError
from factsurv.modeling import loading
from factsurv.modeling.parameters import in_region, layer_of, load_epoch_updates, module_of, top_k_masks

log = logging.getLogger("factsurv")

ATTRIBUTIONS = ("grad", "grad_x_weight")
#: projections whose rows (q, k, v) or columns (o) are split into attention heads for the units
HEADS_BY_ROW = ("q_proj", "k_proj", "v_proj")
HEADS_BY_COLUMN = ("o_proj",)


# -- the core: attribution of a set of parameters over a stream of losses ----------------------

def accumulate(params: dict[str, Any], losses: Iterable[Callable[[], Any]], mode: str = "grad",
               ) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(attribution, summed gradient, number of losses) per parameter name: for each loss (a
    callable returning a scalar tensor), one backward pass; attribution accumulates ``|grad|`` or
    ``|grad * theta|`` (``mode``), the summed gradient keeps the sign (for the cosines)."""
    import torch

    if mode not in ATTRIBUTIONS:
        raise InputError(f"analysis.parameters.gradient_trace.attribution: {mode!r} is not one of {ATTRIBUTIONS}")
    score = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    total = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    count = 0
    for loss_fn in losses:
        for p in params.values():
            p.grad = None
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for n, p in params.items():
                if p.grad is None:
                    continue
                g = p.grad.float()
                total[n] += g
                score[n] += (g * p.float()).abs_() if mode == "grad_x_weight" else g.abs()
        count += 1
    for p in params.values():
        p.grad = None
    return score, total, count


def top_masks(scores: dict[str, Any], percent: float) -> dict[str, Any]:
    """Name → boolean mask of the global top ``percent`` % of all elements of ``scores`` together
    (exactly floor(n * percent / 100); ties at the threshold go to the earlier elements)."""
    names = list(scores)
    n = sum(int(scores[k].numel()) for k in names)
    k = max(0, min(n, int(n * float(percent) / 100.0)))
    return top_k_masks(names, [scores[name].shape for name in names],
                       lambda: (scores[name].flatten() for name in names), k)


def gini(counts: Iterable[float]) -> float:
    """Gini coefficient of non-negative counts (0: spread evenly; → 1: all in one); NaN when empty
    or all zero."""
    x = np.sort(np.asarray(list(counts), dtype=float))
    if x.size == 0 or x.sum() <= 0:
        return float("nan")
    n = x.size
    return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * x.sum()))


def unit_counts(name: str, mask: Any, head_dim: int | None) -> list[tuple[tuple[Any, ...], int]]:
    """(unit, elements of ``mask`` in it) of one matrix: per attention head for q/k/v (rows) and o
    (columns) projections when ``head_dim`` is known, else the whole matrix."""
    module, layer = module_of(name), layer_of(name)
    if head_dim and mask.dim() == 2 and module in HEADS_BY_ROW + HEADS_BY_COLUMN:
        per = mask.sum(dim=1) if module in HEADS_BY_ROW else mask.sum(dim=0)
        if per.numel() % head_dim == 0:
            heads = per.view(-1, head_dim).sum(dim=1)
            return [((layer, module, h), int(c)) for h, c in enumerate(heads.tolist())]
    return [((layer, module, None), int(mask.sum()))]


def shared_tables(stmt_score: dict[str, Any], q_score: dict[str, Any], stmt_sum: dict[str, Any],
                  q_sum: dict[str, Any], *, percent: float, top_units_percent: float, head_dim: int | None,
                  epoch: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one row per matrix, one summary row) of the shared set of the two formats' attributions."""
    import torch

    s_top, q_top = top_masks(stmt_score, percent), top_masks(q_score, percent)
    rows, units = [], []
    n_region = n_s = n_q = n_shared = n_union = 0
    layer_counts: dict[Any, int] = {}
    head_counts: dict[Any, int] = {}
    cosines = []
    for name in stmt_score:
        shared = s_top[name] & q_top[name]
        a, b = stmt_sum[name].flatten(), q_sum[name].flatten()
        denom = float(a.norm() * b.norm())
        cos = float(torch.dot(a, b)) / denom if denom > 0 else float("nan")
        cosines.append(cos)
        k_s, k_q, k_sh = int(s_top[name].sum()), int(q_top[name].sum()), int(shared.sum())
        n_region += int(shared.numel())
        n_s, n_q, n_shared = n_s + k_s, n_q + k_q, n_shared + k_sh
        n_union += int((s_top[name] | q_top[name]).sum())
        layer = layer_of(name)
        layer_counts[layer] = layer_counts.get(layer, 0) + k_sh
        for unit, c in unit_counts(name, shared, head_dim):
            units.append(c)
            if unit[2] is not None:
                head_counts[(unit[0], unit[2])] = head_counts.get((unit[0], unit[2]), 0) + c
        rows.append({"epoch": epoch, "parameter": name, "layer": layer, "module": module_of(name),
                     "numel": int(shared.numel()), "n_statement_top": k_s, "n_question_top": k_q,
                     "n_shared": k_sh, "statement_score": float(stmt_score[name].sum()),
                     "question_score": float(q_score[name].sum()), "cosine": cos})
    k = max(n_s, 1)
    top = sorted(units, reverse=True)[:max(1, math.ceil(len(units) * float(top_units_percent) / 100))]
    summary = {
        "epoch": epoch, "top_percent": float(percent), "n_region": n_region, "n_statement_top": n_s,
        "n_question_top": n_q, "n_shared": n_shared, "shared_share": n_shared / k,
        "jaccard": n_shared / n_union if n_union else float("nan"),
        "expected_shared": n_s * n_q / n_region if n_region else float("nan"),
        "top_units": len(top), "n_units": len(units),
        "top_units_share": sum(top) / n_shared if n_shared else float("nan"),
        "gini_layers": gini(layer_counts.values()), "gini_heads": gini(head_counts.values()),
        "mean_cosine": float(np.nanmean(cosines)) if cosines and not np.all(np.isnan(cosines)) else float("nan"),
    }
    return rows, summary


# -- the model-level trace --------------------------------------------------------------------

def trace_examples(plan: pd.DataFrame, max_facts: int | None, seed: int) -> pd.DataFrame:
    """The plan's first question and first statement of every fact trained in both formats (at
    most ``max_facts`` facts, chosen by (seed, fact_id)); columns fact_id, format, text."""
    plan = plan.sort_values(["epoch", "position"], kind="stable")
    firsts = plan.drop_duplicates(["fact_id", "format"])
    both = firsts.groupby("fact_id")["format"].nunique()
    ids = sorted(both[both == 2].index, key=lambda f: fact_key(seed, "gradient_trace", f))
    if not ids:
        raise InputError("the run's training plan has no fact trained both as a statement and as a question "
                         "(the gradient trace needs a design with both: mixed or two_stage)")
    if max_facts:
        ids = ids[: int(max_facts)]
    keep = firsts[firsts["fact_id"].isin(ids) & firsts["format"].isin([QUESTION, STATEMENT])]
    return keep.sort_values(["fact_id", "format"])[["fact_id", "format", "text"]].reset_index(drop=True)


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    return model(**batch).loss


def _batches(examples: list[tuple[list[int], list[int]]], batch_size: int, pad: int, device: str):
    import torch

    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        width = max(len(x) for x, _ in chunk)
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in chunk], device=device)
        labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in chunk], device=device)
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in chunk], device=device)
        yield {"input_ids": ids, "labels": labels, "attention_mask": mask}


def gradient_trace(spec: dict[str, Any], checkpoint_dir: str | os.PathLike[str] | None, epoch: int,
                   facts: pd.DataFrame, plan: pd.DataFrame, prompt: Any, *, attribution: str = "grad",
                   top_percent: float = 1.0, top_units_percent: float = 10.0, max_facts: int | None = None,
                   batch_size: int = 1, seed: int = 0, threads: int = 0, device: str | None = None,
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-matrix rows, summary row) of the shared parameters of the model of ``epoch``
    (``checkpoint_dir`` None: the base model) over the run's facts trained in both formats."""
    from factsurv.modeling.train import encode_examples

    loading.set_threads(threads)
    device = loading.select_device(device)
    if checkpoint_dir is None:
        model = loading.load_model(spec, device=device, dtype="float32")
        tokenizer = loading.load_tokenizer(spec)
    else:
        eu = load_epoch_updates(spec, checkpoint_dir, epoch, threads=threads, device=device)
        model, tokenizer = eu.model, eu.tokenizer
        eu.updates.clear()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    params = {n: p for n, p in model.named_parameters() if in_region(n, "transformer") and p.dim() == 2}
    for p in params.values():
        p.requires_grad_(True)
    chosen = trace_examples(plan, max_facts, seed)
    indexed = facts.set_index("fact_id", drop=False)
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or (cfg.hidden_size // cfg.num_attention_heads)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    scores, sums = {}, {}
    for fmt in (STATEMENT, QUESTION):
        rows = chosen[chosen["format"] == fmt]
        keys = list(zip(rows["fact_id"], rows["format"], rows["text"].fillna("")))
        examples = encode_examples(tokenizer, indexed, prompt, keys)
        losses = (partial(_loss, model, b) for b in _batches(examples, batch_size, pad, device))
        scores[fmt], sums[fmt], n = accumulate(params, losses, attribution)
        log.info("epoch %d: %s attribution over %d %s examples (%d backward passes)", epoch, attribution,
                 len(examples), fmt, n)
    rows, summary = shared_tables(scores[STATEMENT], scores[QUESTION], sums[STATEMENT], sums[QUESTION],
                                  percent=top_percent, top_units_percent=top_units_percent, head_dim=head_dim,
                                  epoch=epoch)
    summary.update(attribution=attribution, n_facts=int(chosen["fact_id"].nunique()))
    log.info("epoch %d: %d shared of %d top elements per format (%.1f %%; chance %.0f), Jaccard %.3f, "
             "the top %d of %d units hold %.1f %%", epoch, summary["n_shared"], summary["n_statement_top"],
             100 * summary["shared_share"], summary["expected_shared"], summary["jaccard"], summary["top_units"],
             summary["n_units"],
             100 * summary["top_units_share"] if summary["n_shared"] else float("nan"))
    return rows, summary
