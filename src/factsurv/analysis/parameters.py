"""Tables and figures of the parameter-level analyses (the tensors are handled by
:mod:`factsurv.modeling.parameters`): recall per restore ratio with Wilson intervals, the restore
curve, and the layers x module heat map of the relative update size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.summary import wilson
from factsurv.io import InputError, read_tsv
from factsurv.tables import PARAM_UPDATE_COLUMNS, RESTORE_COLUMNS, RESTORE_FACT_COLUMNS, RUN_SPLITS


def restore_summary(per_fact: pd.DataFrame, counts: Sequence[Mapping[str, Any]],
                    split_of: pd.Series) -> pd.DataFrame:
    """:data:`~factsurv.tables.RESTORE_COLUMNS`: recall per (epoch, strategy, ratio) and split
    (``split_of``: fact_id → per-run split; splits without facts are left out)."""
    split = per_fact["fact_id"].astype(str).map(split_of)
    if split.isna().any():
        missing = per_fact.loc[split.isna(), "fact_id"].iloc[0]
        raise InputError(f"restore: fact {missing!r} has no split in the run's facts")
    df = per_fact.assign(split=split)
    rows = []
    for c in counts:
        sel = df[(df["epoch"] == c["epoch"]) & (df["strategy"] == c["strategy"]) & (df["ratio"] == c["ratio"])]
        for s in [s for s in RUN_SPLITS if s in set(sel["split"])]:
            g = sel[sel["split"] == s]
            k, n = int(g["correct"].sum()), len(g)
            rec, lo, hi = wilson(k, n)
            rows.append({**{key: c[key] for key in ("epoch", "strategy", "ratio", "region", "n_region",
                                                       "n_restored")},
                         "split": s, "n": n, "correct": k, "recall": rec, "lower_95": lo, "upper_95": hi})
    return pd.DataFrame(rows, columns=list(RESTORE_COLUMNS))


def read_restore(path: str | os.PathLike[str]) -> pd.DataFrame:
    return read_tsv(path, RESTORE_COLUMNS)


def read_restore_facts(path: str | os.PathLike[str]) -> pd.DataFrame:
    return read_tsv(path, RESTORE_FACT_COLUMNS, dtype={"fact_id": str, "prediction": str})


def read_updates(path: str | os.PathLike[str]) -> pd.DataFrame:
    return read_tsv(path, PARAM_UPDATE_COLUMNS)


def compare_with_eval(per_fact: pd.DataFrame, eval_table: pd.DataFrame, *, epoch: int, ratio: float = 0.0,
                      strategy: str | None = None) -> int:
    """How many facts' (prediction, correct) differ between one restore and an eval table."""
    sel = per_fact[(per_fact["epoch"] == epoch) & (per_fact["ratio"] == float(ratio))]
    if strategy is not None:
        sel = sel[sel["strategy"] == strategy]
    sel = sel.drop_duplicates("fact_id").set_index("fact_id")
    ev = eval_table.assign(fact_id=eval_table["fact_id"].astype(str)).set_index("fact_id")
    ev = ev.loc[sel.index]
    return int(((sel["prediction"].astype(str) != ev["prediction"].astype(str))
                | (sel["correct"].astype(int) != ev["correct"].astype(int))).sum())


def layer_module_grid(updates: pd.DataFrame, epoch: int, value: str = "relative_update") -> pd.DataFrame:
    """layers (rows) x module types (columns) of ``value`` at ``epoch`` (matrices of the layers only)."""
    u = updates[(updates["epoch"] == epoch) & updates["layer"].notna()]
    if u.empty:
        return pd.DataFrame()
    return u.pivot_table(index="layer", columns="module", values=value, aggfunc="mean").sort_index()


def plot_restore(table: pd.DataFrame, *, run: str = "", demo: bool = False):
    """Recall vs restore ratio, one panel per split, one line per epoch and strategy (95 % bands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factsurv.analysis.figures import COLORS, _empty, panel_row

    splits = [s for s in RUN_SPLITS if s in set(table["split"])] or ["train"]
    fig, panels = panel_row(splits, "Recall after restoring fine-tuning updates to their base values", run, demo,
                            width=5.2)
    for ax, s in panels:
        g = table[table["split"] == s]
        if g.empty:
            _empty(ax, "no facts")
            continue
        for i, ((epoch, strategy), h) in enumerate(g.groupby(["epoch", "strategy"], sort=True)):
            h = h.sort_values("ratio")
            c = COLORS[i % len(COLORS)]
            ax.plot(h["ratio"], h["recall"], marker="o", color=c, label=f"epoch {epoch}, {strategy}")
            ax.fill_between(h["ratio"], h["lower_95"], h["upper_95"], color=c, alpha=0.15)
        ax.set_title(f"{s} (n = {int(g['n'].iloc[0])})", fontsize=11)
        ax.set_xlabel("updates restored (% of the region's elements)")
        ax.set_ylabel("greedy recall")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_update_heatmap(updates: pd.DataFrame, *, run: str = "", demo: bool = False):
    """Relative update size ||delta|| / ||theta_0|| per layer x module type at the last epoch, and
    the share of entries that carries 90 % of the squared update."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factsurv.analysis.figures import _empty, _titles

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), squeeze=False)
    epoch = int(updates["epoch"].max()) if len(updates) else 0
    _titles(fig, f"Where fine-tuning moved the weights (epoch {epoch})", run, demo)
    for ax, (value, label) in zip(axes[0], [("relative_update", "||delta|| / ||theta_0||"),
                                           ("share_90", "share of entries carrying 90 % of ||delta||^2")]):
        grid = layer_module_grid(updates, epoch, value)
        if grid.empty or not np.isfinite(grid.to_numpy(dtype=float)).any():
            _empty(ax, "no update in the layers")
            continue
        im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(grid.shape[0]), [str(int(v)) for v in grid.index], fontsize=8)
        ax.set_ylabel("layer")
        ax.set_title(label, fontsize=10)
        fig.colorbar(im, ax=ax)
    return fig


#: the shared-set measures drawn side by side per design (gradient_shared.tsv columns)
SHARED_MEASURES = (("shared_share", "shared share of a format's top set"),
                   ("top_units_share", "share in the top units (centralization)"),
                   ("gini_layers", "Gini over layers"), ("mean_cosine", "mean cosine (statement, question)"))


def plot_shared(table: pd.DataFrame, *, title: str = "", demo: bool = False):
    """The gradient trace's size and centralization of the shared set per design (one point per
    run and epoch, the seeds' mean as a bar): the comparison of arXiv 2505.16178 (mixed vs two_stage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factsurv.analysis.figures import COLORS, _titles

    fig, axes = plt.subplots(1, len(SHARED_MEASURES), figsize=(3.6 * len(SHARED_MEASURES), 3.8), squeeze=False)
    _titles(fig, "Shared parameters of statements and questions (gradient trace)", title, demo)
    designs = list(dict.fromkeys(table["design"]))
    for ax, (col, label) in zip(axes[0], SHARED_MEASURES):
        for i, d in enumerate(designs):
            g = table[table["design"] == d]
            ax.bar(i, g[col].mean(), color=COLORS[i % len(COLORS)], alpha=0.35)
            ax.scatter([i] * len(g), g[col], color=COLORS[i % len(COLORS)], zorder=3, s=18)
        ax.set_xticks(range(len(designs)), designs)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    return fig


def plot_attention(table: pd.DataFrame, loss: pd.DataFrame, plateau: Any, *, run: str = "", demo: bool = False):
    """Left: attention of the answer on the term's label per epoch, one line per layer (mean over
    heads; the band: the heads' range), the even-spread level dashed. Right: the answer loss per
    epoch with its plateau."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factsurv.analysis.figures import COLORS, _empty, _titles

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.4, 4.2))
    _titles(fig, "Attention of the answer on the term's label, and the answer loss", run, demo)
    if table.empty:
        _empty(ax, "no facts with label tokens")
    else:
        for i, (layer, g) in enumerate(table.groupby("layer")):
            by = g.groupby("epoch")["mass"]
            c = COLORS[i % len(COLORS)]
            ax.plot(by.mean().index, by.mean().values, marker="o", color=c, label=f"layer {layer}")
            ax.fill_between(by.mean().index, by.min().values, by.max().values, color=c, alpha=0.12)
        share = table.groupby("epoch")["label_share"].first()
        ax.plot(share.index, share.values, ls="--", color="grey", label="even spread")
        ax.set_xlabel("epoch")
        ax.set_ylabel("attention on the label's tokens")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if loss.empty:
        _empty(bx, "no eval tables")
    else:
        bx.plot(loss["epoch"], loss["answer_loss"], marker="o", color=COLORS[0])
        if plateau is not None and not (isinstance(plateau, float) and np.isnan(plateau)):
            bx.axvline(float(plateau), ls=":", color="grey", label=f"plateau from epoch {int(plateau)}")
            bx.legend(fontsize=8)
        bx.set_xlabel("epoch")
        bx.set_ylabel("answer loss per token (trained facts)")
        bx.grid(alpha=0.3)
    return fig
