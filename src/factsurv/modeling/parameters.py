"""Parameter-level analyses of finished checkpoints: where fine-tuning moved the weights, and what
greedy recall does when the largest (or smallest, or random) updates are put back to their base
values.

An epoch's update is read from its checkpoint and the base model, in float32 whatever the model's
dtype: for full fine-tuning the difference of the weights; for LoRA the dense ``scale * B @ A`` of
every adapted matrix (the fine-tuned weight is then ``W0 + scale * B @ A``, merged here in float32).

* :func:`update_table` — per weight matrix ``||delta|| / ||theta_0||`` and how concentrated the
  update is (the smallest share of entries that carries 50 / 90 % of the squared update).
* :func:`restore_mask` + :func:`apply_restore` — the element-level restore of arXiv 2509.16596
  (their released ``param_restore.py``): every element of the region is scored by its relative
  change ``|theta_ft - theta_0| / (|theta_0| + 1e-8)``; one **global** top-k % over the region
  (``top``: largest change; ``bottom``: smallest; ``random``: seeded uniform) is set back to
  ``theta_0``. The k-th score is found by ``torch.kthvalue`` on the concatenated region when it is
  small enough, else by a bisection over the float32 bit patterns (32 counting passes over the
  matrices, no copy of the region); ties at the threshold are broken by position, so exactly
  ``floor(n * k / 100)`` elements are restored, as ``torch.topk`` would.

Nothing is written back to disk: the restored model lives in memory for the evaluation.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from factsurv.io import InputError
from factsurv.modeling import checkpoint as ckpt
from factsurv.modeling import loading

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger("factsurv")

EPS = 1e-8
#: the parameter regions of the restore (``transformer`` is the released code's default)
REGIONS = ("transformer", "attention", "mlp", "all")
STRATEGIES = ("top", "bottom", "random")
#: above this many elements the global threshold is found by bisection instead of kthvalue
KTHVALUE_LIMIT = 1 << 27


def in_region(name: str, region: str) -> bool:
    """Whether parameter ``name`` is restorable in ``region``: ``transformer`` = names with
    ``layers`` and without ``norm`` (embeddings, final norm and output head untouched);
    ``attention`` / ``mlp`` = the layers' ``self_attn.`` / ``mlp.`` matrices; ``all`` = every
    parameter (then a full restore is the base model)."""
    if region == "transformer":
        return "layers" in name and "norm" not in name
    if region == "attention":
        return "layers" in name and "self_attn." in name
    if region == "mlp":
        return "layers" in name and "mlp." in name
    if region == "all":
        return True
    raise InputError(f"analysis.parameters: unknown region {region!r} (one of {REGIONS})")


_LAYER = re.compile(r"layers\.(\d+)\.")


def layer_of(name: str) -> int | None:
    """The transformer layer index in a parameter name (None outside the layers)."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def module_of(name: str) -> str:
    """The module type of a parameter: the last name part before ``weight``/``bias`` (``q_proj``,
    ``down_proj``, ``input_layernorm``, ``embed_tokens``...)."""
    parts = [p for p in name.split(".") if p not in ("weight", "bias", "base_layer", "default")]
    return parts[-1] if parts else name


@dataclass
class Update:
    """One parameter's base value and fine-tuned value (float32, on the model's device).
    ``lora_delta`` is a LoRA matrix's update as the adapter computes it (``scale * B @ A``, peft's
    ``get_delta_weight``); :meth:`delta` is that, or ``ft - base`` for any other parameter."""

    name: str
    base: "torch.Tensor"
    tuned: "torch.Tensor"
    lora_delta: "torch.Tensor | None" = None

    def delta(self) -> "torch.Tensor":
        if self.lora_delta is not None:
            return self.lora_delta.clone()
        return self.tuned - self.base

    def relative_change(self) -> "torch.Tensor":
        """|theta_ft - theta_0| / (|theta_0| + 1e-8), elementwise."""
        return self.delta().abs_().div_(self.base.abs().add_(EPS))

    @property
    def numel(self) -> int:
        return int(self.base.numel())


@dataclass
class EpochUpdates:
    """The model of one epoch ready for in-memory restores, and its per-parameter updates."""

    model: Any
    tokenizer: Any
    method: str
    epoch: int
    updates: dict[str, Update] = field(default_factory=dict)

    def region(self, region: str) -> list[Update]:
        """The updates of a region, in parameter order."""
        return [u for n, u in self.updates.items() if in_region(n, region)]


def _lora_deltas(peft_model: Any) -> dict[str, "torch.Tensor"]:
    """Base-model parameter name → dense float32 update ``scale * B @ A`` of every LoRA-adapted
    layer (peft's ``get_delta_weight``: what merging the adapter adds to the weight)."""
    out = {}
    for name, module in peft_model.named_modules():
        if not (hasattr(module, "lora_A") and hasattr(module, "base_layer") and "default" in module.lora_A):
            continue
        base_name = name.split("base_model.model.", 1)[-1] + ".weight"
        out[base_name] = module.get_delta_weight("default").detach().float()
    return out


def load_epoch_updates(spec: dict[str, Any], checkpoint_dir: str | os.PathLike[str], epoch: int, *,
                       threads: int = 0, device: str | None = None) -> EpochUpdates:
    """The fine-tuned model of ``epoch`` (float32, plain: a LoRA adapter merged in float32) with the
    base and fine-tuned value of every parameter. A checkpoint of another base model or epoch is
    refused (:func:`factsurv.modeling.checkpoint.check_compatible`)."""
    import torch

    loading.set_threads(threads)
    device = loading.select_device(device)
    meta = ckpt.read_meta(checkpoint_dir)
    ckpt.check_compatible(meta, base=loading.describe(spec), epoch=int(epoch), source=str(checkpoint_dir))
    method = meta["method"]
    if method == "qlora":
        raise InputError(f"{checkpoint_dir}: a QLoRA checkpoint has a 4-bit base; the parameter analyses "
                         "need the float base weights (use method lora or full)")
    tokenizer = loading.load_tokenizer(spec)
    model = loading.load_model(spec, device=device, dtype="float32")
    model.eval()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    updates: dict[str, Update] = {}
    with torch.no_grad():
        if method == "full":
            tuned = loading.build_trainable_model(spec, "full", {}, device=device)
            ckpt.load_weights(tuned, checkpoint_dir, "full")
            tuned_params = dict(tuned.named_parameters())
            for n, p in model.named_parameters():
                t = tuned_params[n].detach().float()
                updates[n] = Update(n, base[n], t.clone())
                p.copy_(t)
            del tuned
        else:
            torch.manual_seed(0)
            peft_model = loading.build_trainable_model(spec, "lora", meta.get("lora") or {}, device=device)
            ckpt.load_weights(peft_model, checkpoint_dir, "lora")
            deltas = _lora_deltas(peft_model)
            del peft_model
            unknown = sorted(set(deltas) - set(base))
            if unknown:
                raise InputError(f"{checkpoint_dir}: adapted matrices not in the base model: {unknown[:3]}")
            for n, p in model.named_parameters():
                if n in deltas:
                    u = Update(n, base[n], base[n] + deltas[n], lora_delta=deltas[n])
                    p.copy_(u.tuned)
                else:
                    u = Update(n, base[n], base[n])
                updates[n] = u
    return EpochUpdates(model=model, tokenizer=tokenizer, method=method, epoch=int(epoch), updates=updates)


# -- where the updates are -----------------------------------------------------------------------

def concentration(delta: "torch.Tensor", shares: Iterable[float]) -> dict[float, float]:
    """For each q in ``shares``: the smallest share of entries whose squared update carries at
    least q of the matrix's total squared update (1.0 for a zero update: nothing is concentrated)."""
    import torch

    sq = delta.detach().float().flatten().square()
    total = float(sq.sum())
    out = {}
    if total == 0.0:
        return {float(q): float("nan") for q in shares}
    cum = torch.cumsum(torch.sort(sq, descending=True).values, 0) / total
    for q in shares:
        # entries needed: the first position whose cumulative share reaches q
        needed = int(torch.searchsorted(cum, torch.tensor(float(q)) - 1e-12).item()) + 1
        out[float(q)] = min(needed, sq.numel()) / sq.numel()
    return out


def update_rows(eu: EpochUpdates, shares: Iterable[float] = (0.5, 0.9)) -> list[dict[str, Any]]:
    """One row per parameter of ``eu``: its layer and module, size, the update's norm, the base's
    norm, their ratio, the share of entries carrying each of ``shares`` of the squared update, and
    the share of entries that changed at all."""
    shares = tuple(float(q) for q in shares)
    rows = []
    for name, u in eu.updates.items():
        d = u.delta()
        dn, bn = float(d.norm()), float(u.base.norm())
        conc = concentration(d, shares)
        rows.append({
            "epoch": eu.epoch, "method": eu.method, "parameter": name, "layer": layer_of(name),
            "module": module_of(name), "numel": u.numel, "update_norm": dn, "base_norm": bn,
            "relative_update": dn / bn if bn > 0 else float("nan"),
            "share_50": conc.get(0.5, float("nan")), "share_90": conc.get(0.9, float("nan")),
            "changed_share": float((d != 0).float().mean()),
        })
    return rows


# -- restoring updates ---------------------------------------------------------------------------

def restore_count(n: int, ratio: float) -> int:
    """Elements restored for a ratio in percent: floor(n * ratio / 100), as the released code."""
    return max(0, min(n, int(n * float(ratio) / 100.0)))


def _scores(updates: list[Update], strategy: str, seed: int) -> Callable[[], Iterable["torch.Tensor"]]:
    """A re-iterable source of the per-matrix scores whose k largest are restored."""
    import torch

    if strategy not in STRATEGIES:
        raise InputError(f"analysis.parameters.restore.strategies: unknown strategy {strategy!r} "
                         f"(one of {STRATEGIES})")

    def gen() -> Iterable["torch.Tensor"]:
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        for u in updates:
            if strategy == "top":
                yield u.relative_change().flatten()
            elif strategy == "bottom":
                yield u.relative_change().neg_().add_(0.0).flatten()  # -0.0 → +0.0
            else:
                yield torch.rand(u.numel, generator=g).to(u.base.device)

    return gen


def _ordered_keys(x: "torch.Tensor") -> "torch.Tensor":
    """int64 keys whose order is the order of the float32 values (NaN aside)."""
    import torch

    bits = x.float().contiguous().view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def kth_largest(chunks: Callable[[], Iterable["torch.Tensor"]], k: int, n: int, *,
                limit: int = KTHVALUE_LIMIT) -> float:
    """The k-th largest value (1 ≤ k ≤ n) over all chunks, without a sort: ``torch.kthvalue`` on
    the concatenation when n ≤ ``limit``, else a bisection over the float32 bit patterns."""
    import torch

    if not 1 <= k <= n:
        raise ValueError(f"k={k} outside 1..{n}")
    if n <= limit:
        flat = torch.cat([c.float().cpu() for c in chunks()])
        return float(torch.kthvalue(flat, n - k + 1).values)
    lo, hi = -(1 << 31), (1 << 31) - 1  # invariant: count(key >= lo) >= k, count(key > hi) < k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        count = sum(int((_ordered_keys(c) >= mid).sum()) for c in chunks())
        if count >= k:
            lo = mid
        else:
            hi = mid - 1
    key = torch.tensor([lo], dtype=torch.int64)
    bits = torch.where(key < 0, -(key + 1) | (-(1 << 31)), key).to(torch.int32)
    return float(bits.view(torch.float32)[0])


def top_k_masks(names: list[str], shapes: list[Any], scores: Callable[[], Iterable["torch.Tensor"]], k: int, *,
                limit: int = KTHVALUE_LIMIT) -> dict[str, "torch.Tensor"]:
    """Name → boolean mask of exactly ``k`` elements over all matrices together: those with the
    largest score (``scores``: a re-iterable source of the flat scores, one per name, in order).
    Ties at the threshold go to the earlier elements (name order, then flat position)."""
    import torch

    n = sum(int(torch.Size(sh).numel()) for sh in shapes)
    if k == 0:
        return {name: torch.zeros(sh, dtype=torch.bool) for name, sh in zip(names, shapes)}
    if k == n:
        return {name: torch.ones(sh, dtype=torch.bool) for name, sh in zip(names, shapes)}
    thr = kth_largest(scores, k, n, limit=limit)
    above = [s > thr for s in scores()]
    need = k - sum(int(a.sum()) for a in above)
    masks = {}
    for name, sh, s, a in zip(names, shapes, scores(), above):
        if need > 0:
            tie = s == thr
            take = tie & (torch.cumsum(tie.to(torch.int64), 0) <= need)
            need -= int(take.sum())
            a = a | take
        masks[name] = a.view(sh)
    return masks


def restore_mask(updates: list[Update], ratio: float, strategy: str = "top", *, seed: int = 0,
                 limit: int = KTHVALUE_LIMIT) -> dict[str, "torch.Tensor"]:
    """Parameter name → boolean mask of the elements to set back to their base value: exactly
    ``restore_count(n, ratio)`` elements over ``updates`` together (a global choice), by
    ``strategy``. Ties at the threshold go to the earlier elements (parameter order, then flat
    position)."""
    n = sum(u.numel for u in updates)
    masks = top_k_masks([u.name for u in updates], [u.base.shape for u in updates],
                        _scores(updates, strategy, seed), restore_count(n, ratio), limit=limit)
    return {u.name: masks[u.name].to(u.base.device) for u in updates}


def apply_restore(eu: EpochUpdates, masks: dict[str, "torch.Tensor"]) -> int:
    """Set the model's parameters to ``where(mask, theta_0, theta_ft)`` (every parameter without a
    mask: theta_ft); returns the number of elements restored. Repeated calls start from theta_ft."""
    import torch

    restored = 0
    with torch.no_grad():
        for name, p in eu.model.named_parameters():
            u = eu.updates[name]
            m = masks.get(name)
            if m is None:
                p.copy_(u.tuned)
            else:
                p.copy_(torch.where(m, u.base, u.tuned))
                restored += int(m.sum())
    return restored


def restore_curve(spec: dict[str, Any], checkpoint_dir: str | os.PathLike[str], epoch: int, facts: Any,
                  prompt: Any, *, ratios: Iterable[float], strategies: Iterable[str] = ("top",),
                  region: str = "transformer", seed: int = 0, batch_size: int, max_new_tokens: int,
                  threads: int = 0, device: str | None = None,
                  limit: int = KTHVALUE_LIMIT) -> tuple[Any, list[dict[str, Any]]]:
    """Greedy answers of every fact after restoring each ratio (percent) of the region's updates
    of ``epoch``, per strategy: (per-fact table with columns
    :data:`factsurv.tables.RESTORE_FACT_COLUMNS`, one dict per restore with the counts). Ratio 0
    is the fine-tuned model itself; with region ``all``, ratio 100 is the base model."""
    import pandas as pd

    from factsurv.modeling.evaluate import greedy_table
    from factsurv.tables import RESTORE_FACT_COLUMNS

    eu = load_epoch_updates(spec, checkpoint_dir, epoch, threads=threads, device=device)
    part = eu.region(region)
    if not part:
        raise InputError(f"analysis.parameters.restore.region {region!r}: no parameter of the model is in it")
    n = sum(u.numel for u in part)
    tables, counts = [], []
    done_zero = None
    for strategy in strategies:
        for ratio in ratios:
            masks = restore_mask(part, ratio, strategy, seed=seed, limit=limit)
            restored = apply_restore(eu, masks)
            if restored == 0 and done_zero is not None:
                table = done_zero.copy()  # nothing restored: the fine-tuned model's answers again
            else:
                table = greedy_table(eu.model, eu.tokenizer, facts, prompt, batch_size=batch_size,
                                     max_new_tokens=max_new_tokens)
                if restored == 0:
                    done_zero = table
            table = table.assign(epoch=int(epoch), strategy=strategy, ratio=float(ratio))
            tables.append(table)
            counts.append({"epoch": int(epoch), "strategy": strategy, "ratio": float(ratio), "region": region,
                           "n_region": n, "n_restored": restored})
            log.info("epoch %d, %s %g %%: %d of %d elements restored, %d of %d facts right", epoch, strategy,
                     ratio, restored, n, int(table["correct"].sum()), len(table))
    apply_restore(eu, {})
    return pd.concat(tables, ignore_index=True)[list(RESTORE_FACT_COLUMNS)], counts
