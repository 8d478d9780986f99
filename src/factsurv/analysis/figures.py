"""Figures drawn from the analysis tables (never from raw data): KM curves with a risk table,
per-epoch acquisition rate, forest plots of hazard ratios, accuracy per epoch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from factsurv.analysis.summary import wilson  # noqa: E402
from factsurv.io import atomic_path  # noqa: E402

DEMO_SUBTITLE = "Demo run: small model built and pretrained by the workflow, not Llama-3.1-8B-Instruct"
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
KIND_TITLES = {
    "acquisition": ("Acquisition of trained facts", "Cumulative share acquired (1 − KM)"),
    "generalization": ("Generalization to withheld facts", "Cumulative share generalized (1 − KM)"),
    "degradation": ("Degradation of facts correct before training", "Cumulative share lost (1 − KM)"),
}


def save_figure(fig: plt.Figure, paths: Sequence[str | os.PathLike[str]], dpi: int = 150) -> None:
    """Save ``fig`` to every path (format from the extension), atomically, then close it."""
    for p in paths:
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _titles(fig: plt.Figure, title: str, run: str, demo: bool) -> None:
    sub = f"run {run}" + (f" — {DEMO_SUBTITLE}" if demo else "")
    fig.suptitle(title, y=0.995, va="top", fontsize=13, fontweight="bold")
    fig.text(0.5, 0.945, sub, ha="center", va="top", fontsize=9, color="#b22222" if demo else "#444444")
    fig.subplots_adjust(top=0.87)


def panel_row(panels: list, title: str, run: str, demo: bool, *, width: float = 5.6,
              height: float = 4.4) -> tuple[plt.Figure, list[tuple[plt.Axes, object]]]:
    """One row of panels, one per item of ``panels``, under the figure's titles: (fig, [(ax, item)])."""
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), height), squeeze=False)
    _titles(fig, title, run, demo)
    return fig, list(zip(axes[0], panels))


def kind_panels(curves: pd.DataFrame, title: str, run: str, demo: bool
                ) -> tuple[plt.Figure, list[tuple[plt.Axes, str, pd.DataFrame]]]:
    """A panel per event kind after which facts are followed (acquisition, generalization) in a
    curves table with a ``kind`` column: (fig, [(ax, kind, its rows)])."""
    kinds = [k for k in ("acquisition", "generalization") if k in set(curves["kind"])] or ["acquisition"]
    fig, panels = panel_row(kinds, title, run, demo)
    return fig, [(ax, kind, curves[curves["kind"] == kind]) for ax, kind in panels]


def km_step(ax: plt.Axes, c: pd.DataFrame, *, color: str, name: str, lw: float = 2, ls: str = "-",
            alpha: float = 0.15) -> None:
    """A Kaplan–Meier curve in % (columns epoch, survival, survival_lower_95/upper_95, n_at_risk) with
    its band, labelled ``name (n=<at risk at its first epoch>)``."""
    c = c.sort_values("epoch")
    label = f"{name} (n={int(c['n_at_risk'].iloc[0])})"
    ax.step(c["epoch"], 100 * c["survival"], where="post", lw=lw, color=color, label=label, ls=ls)
    ax.fill_between(c["epoch"], 100 * c["survival_lower_95"], 100 * c["survival_upper_95"], step="post",
                    color=color, alpha=alpha, lw=0)


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_km(km: pd.DataFrame, kind: str, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Cumulative incidence (1 − KM) with 95% bands per group, and a number-at-risk table below."""
    title, ylabel = KIND_TITLES.get(kind, (kind, "Cumulative share (1 − KM)"))
    vars_ = [v for v in pd.unique(km["group_var"]) if v != "all"] or (["all"] if len(km) else [])
    ncol = max(1, len(vars_))
    fig, axes = plt.subplots(2, ncol, figsize=(6.5 * ncol, 5.8), squeeze=False,
                             gridspec_kw={"height_ratios": [4, 1.1], "hspace": 0.08})
    _titles(fig, title, run, demo)
    if not vars_:
        _empty(axes[0, 0], "no facts at risk")
        axes[1, 0].axis("off")
        return fig
    for j, var in enumerate(vars_):
        ax, tab = axes[0, j], axes[1, j]
        sub = km[km["group_var"] == var]
        groups = list(pd.unique(sub["group"]))
        epochs = np.sort(pd.unique(sub["epoch"]))
        for i, g in enumerate(groups):
            c = sub[sub["group"] == g].sort_values("epoch")
            col = COLORS[i % len(COLORS)]
            n0 = int(c["n_at_risk"].iloc[0])
            ax.step(c["epoch"], c["cumulative"], where="post", color=col, lw=2.2,
                    label=f"{g} (n={n0}, events={int(c['n_events'].sum())})")
            ax.fill_between(c["epoch"], c["cumulative_lower_95"], c["cumulative_upper_95"], step="post", color=col, alpha=0.15)
            for e, r in zip(c["epoch"], c["n_at_risk"]):
                tab.text(e, len(groups) - 1 - i, str(int(r)), ha="center", va="center", fontsize=8, color=col)
        ax.set_ylim(0, 1)
        ax.set_xlim(epochs.min() - 0.3, epochs.max() + 0.3)
        ax.set_ylabel(ylabel)
        ax.set_title(f"by {var}" if var != "all" else "all facts at risk", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.tick_params(labelbottom=False)
        tab.set_xlim(ax.get_xlim())
        tab.set_ylim(-0.6, len(groups) - 0.4)
        tab.set_yticks(range(len(groups)))
        tab.set_yticklabels(list(reversed(groups)), fontsize=8)
        tab.set_xticks(epochs)
        tab.set_xlabel("Epoch (number at risk at the start of each epoch)")
        for s in ("top", "right", "left"):
            tab.spines[s].set_visible(False)
        tab.tick_params(axis="y", length=0)
    return fig


def plot_rate(dynamics: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Per-epoch share newly acquired, per kind (panels) and group (lines); peak marked, convergence dashed."""
    kinds = list(pd.unique(dynamics["kind"])) if len(dynamics) else []
    ncol = max(1, len(kinds))
    fig, axes = plt.subplots(1, ncol, figsize=(6.2 * ncol, 4.6), squeeze=False)
    _titles(fig, "Per-epoch acquisition rate by group", run, demo)
    if not kinds:
        _empty(axes[0, 0], "no facts at risk")
        return fig
    for j, kind in enumerate(kinds):
        ax = axes[0, j]
        sub = dynamics[dynamics["kind"] == kind]
        groups = [g for g in pd.unique(sub["group"]) if g != "all"] or ["all"]
        for i, g in enumerate(groups):
            c = sub[sub["group"] == g].sort_values("epoch")
            col = COLORS[i % len(COLORS)]
            ax.plot(c["epoch"], 100 * c["share_new"], marker="o", ms=4, color=col, lw=2,
                    label=f"{g} (n={int(c['n'].iloc[0])})")
            pk, ce = c["peak_epoch"].iloc[0], c["convergence_epoch"].iloc[0]
            if not pd.isna(pk):
                ax.plot([pk], [100 * c["peak_share"].iloc[0]], marker="*", ms=14, color=col, mec="black", zorder=5)
            if not pd.isna(ce):
                ax.axvline(float(ce), color=col, ls="--", lw=1, alpha=0.8)
        ax.set_title(f"{kind} (★ peak, dashed: 95% of final reached)", fontsize=10)
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Newly acquired this epoch (% of group)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.90))
    return fig


def plot_forest(cox: pd.DataFrame, kind: str, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Hazard ratios with 95% CIs on a log scale: one row per covariate, one marker per model."""
    models = [m for m in pd.unique(cox["model"]) if isinstance(m, str)]
    covs = [c for c in pd.unique(cox["covariate"]) if isinstance(c, str) and c]
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.55 * max(1, len(covs)) * max(1, min(len(models), 3)) / 1.6))
    _titles(fig, f"Hazard ratios — {kind}", run, demo)
    if not covs:
        _empty(ax, "no model fitted")
        return fig
    est = cox[cox["converged"].astype(str) == "True"]
    vals = pd.concat([est["hr_lower_95"], est["hr_upper_95"]]).replace([np.inf, -np.inf], np.nan).dropna()
    # the axis spans the intervals but at most 1/100..100: a wider interval runs off the edge (its
    # numbers are printed beside the plot)
    lo = max(0.01, min(0.5, float(vals.min()) * 0.8)) if len(vals) else 0.5
    hi = min(100.0, max(2.0, float(vals.max()) * 1.25)) if len(vals) else 2.0
    offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else [0.0]
    notes = []
    ph_flagged = False
    for k, m in enumerate(models):
        col = COLORS[k % len(COLORS)]
        first = True
        for i, c in enumerate(covs):
            r = cox[(cox["model"] == m) & (cox["covariate"] == c)]
            if r.empty:
                continue
            r = r.iloc[0]
            y = len(covs) - 1 - i + offsets[k]
            if str(r["converged"]) == "True":
                ax.errorbar(r["hr"], y, xerr=[[r["hr"] - r["hr_lower_95"]], [r["hr_upper_95"] - r["hr"]]],
                            fmt="o" if m != "univariable" else "s", color=col, mfc=col if m != "univariable" else "white",
                            capsize=3, label=f"{m} (n={int(r['n'])}, events={int(r['n_events'])})" if first else None)
                first = False
                ptxt = "p<0.001" if r["p"] < 0.001 else f"p={r['p']:.2g}"
                flagged = str(r.get("ph_flag", "")) == "True"
                if flagged:  # proportional hazards violated for this covariate (Schoenfeld test)
                    ax.plot([r["hr"]], [y], marker="o", ms=11, mfc="none", mec="#8b0000", mew=1.5, zorder=6)
                    ph_flagged = True
                ax.text(hi * 1.05, y, f"{r['hr']:.2f} [{r['hr_lower_95']:.2f}, {r['hr_upper_95']:.2f}] {ptxt}"
                        + (f"  PH! (p={r['ph_test_p']:.2g})" if flagged else ""),
                        va="center", fontsize=7, color=col)
            else:
                ax.plot([1.0], [y], marker="x", color=col, ms=7)
                why = str(r["warning"]).split(";")[0][:100]
                notes.append(f"{m} / {c}: {why}")
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    fine = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50, 100)
    coarse = (0.01, 0.1, 0.5, 1, 2, 10, 100)  # a wide axis: fewer ticks, so the labels do not overlap
    ticks = [t for t in (fine if hi / lo <= 20 else coarse) if lo <= t <= hi]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yticks(range(len(covs)))
    ax.set_yticklabels(list(reversed(covs)))
    ax.set_xlabel("Hazard ratio (95% CI; log scale). Transformed covariates: per SD of log1p/z-scored value"
                  + ("\nPH! / red ring: proportional-hazards test p < alpha (the HR averages a time-varying effect)"
                     if ph_flagged else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False, ncol=1)
    if notes:
        # below the legend (one line per model), one note per line
        lines = ["× not estimated:"] + [f"   {t}" for t in notes[:6]] + ([f"   (+{len(notes) - 6} more)"] if len(notes) > 6 else [])
        height_in = fig.get_size_inches()[1] * ax.get_position().height
        y = -0.1 - (0.3 + 0.17 * (len(models) + 1)) / height_in
        ax.annotate("\n".join(lines), xy=(0.0, y), xycoords="axes fraction", va="top", ha="left",
                    fontsize=7, color="#8b0000", annotation_clip=False)
    return fig


def plot_accuracy(trajectories: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Greedy accuracy per epoch, one line per ontology × split, with Wilson 95% bands."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    _titles(fig, "Accuracy per epoch by ontology and split", run, demo)
    for i, ((onto, split), g) in enumerate(trajectories.groupby(["ontology", "split"], sort=True)):
        stats = g.groupby("epoch")["correct"].agg(["sum", "count"]).reset_index()
        w = np.array([wilson(int(k), int(n)) for k, n in zip(stats["sum"], stats["count"])])
        col = COLORS[i % len(COLORS)]
        ls = {"train": "-", "statement_only": ":"}.get(split, "--")
        name = {"train": "trained", "statement_only": "statements only"}.get(split, "withheld")
        ax.plot(stats["epoch"], 100 * w[:, 0], ls, marker="o", ms=3.5, color=col, lw=2,
                label=f"{onto} / {name} (n={int(stats['count'].iloc[0])})")
        ax.fill_between(stats["epoch"], 100 * w[:, 1], 100 * w[:, 2], color=col, alpha=0.15)
    ax.set_xlabel("Epoch (0 = before fine-tuning)")
    ax.set_ylabel("Greedy accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.90))
    return fig


def plot_epoch_sets(sets: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Three panels from epoch_sets.tsv: training loss against trained recall; new, forgotten and
    relearned trained facts per epoch; confident wrong answers per epoch (withheld facts: hallucination)."""
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.6))
    _titles(fig, "Loss, recall, forgetting and confident errors per epoch", run, demo)
    train = sets[sets["split"] == "train"].sort_values("epoch")
    ax = axes[0]
    if len(train):
        ax.plot(train["epoch"], 100 * train["correct"] / train["n"], "-o", ms=3.5, color=COLORS[0], lw=2,
                label="trained recall (%)")
        ax.set_ylim(0, 100)
        ax.set_ylabel("Trained-fact recall (%)", color=COLORS[0])
        loss = train.dropna(subset=["train_loss"])
        if len(loss):
            ax2 = ax.twinx()
            ax2.plot(loss["epoch"], loss["train_loss"], "--s", ms=3.5, color=COLORS[1], lw=1.8, label="training loss")
            ax2.set_ylabel("Training loss (answer tokens)", color=COLORS[1])
    ax.set_xlabel("Epoch")
    ax.set_title("Loss vs recall", fontsize=10)
    ax.grid(alpha=0.3)
    ax = axes[1]
    later = train[train["epoch"] >= 1]
    for i, col in enumerate(("new", "forgotten", "relearned")):
        ax.plot(later["epoch"], later[col], "-o", ms=3.5, lw=2, color=COLORS[(i + 2) % len(COLORS)], label=col)
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Trained facts")
    ax.set_title("New, forgotten and relearned (trained facts)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax = axes[2]
    for i, (split, g) in enumerate(sets.groupby("split", sort=True)):
        g = g.sort_values("epoch")
        if g["confident_error_share"].notna().any():
            ax.plot(g["epoch"], 100 * g["confident_error_share"], "-o" if split == "heldout" else "--", ms=3.5,
                    lw=2, color=COLORS[i % len(COLORS)], label="withheld" if split == "heldout" else "trained")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Confident wrong answers (% of facts)")
    ax.set_title("Confident errors (mean token prob ≥ threshold)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


CONTROL_TITLES = {"arithmetic": "arithmetic", "multiple_choice": "multiple choice"}


def plot_control(accuracy: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Out-of-domain (control) accuracy per epoch and item kind with Wilson 95% bands, chance dotted
    (analysis/control.tsv; do general skills survive fine-tuning on facts?)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    _titles(fig, "Out-of-domain accuracy per epoch", run, demo)
    if accuracy.empty:
        _empty(ax, "no control items")
    for i, (kind, g) in enumerate(accuracy.groupby("kind", sort=True)):
        g = g.sort_values("epoch")
        color = COLORS[i % len(COLORS)]
        label = f"{CONTROL_TITLES.get(kind, kind)} (n={int(g['n'].iloc[0])})"
        ax.plot(g["epoch"], 100 * g["accuracy"], "-o", ms=3.5, lw=2, color=color, label=label)
        ax.fill_between(g["epoch"], 100 * g["lower_95"], 100 * g["upper_95"], color=color, alpha=0.15, lw=0)
        if g["chance"].notna().any():
            ax.axhline(100 * float(g["chance"].iloc[0]), ls=":", lw=1.2, color=color, label=f"chance ({kind})")
    ax.set_ylim(0, 100)
    ax.set_xlabel("Epoch (0: base model)")
    ax.set_ylabel("Control items right (%)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def plot_forgetting(curves: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Share of acquired facts still right by epochs since the (confirmed) acquisition, Kaplan–Meier,
    one panel per kind, one curve per stable_epochs m (analysis/forgetting.tsv)."""
    fig, panels = kind_panels(curves, "Time to the first forgetting after acquisition", run, demo)
    for ax, kind, g in panels:
        if g.empty:
            _empty(ax, "no facts acquired before the last epoch")
        for i, (m, c) in enumerate(g.groupby("m", sort=True)):
            km_step(ax, c, color=COLORS[i % len(COLORS)], name=f"m = {m}")
        ax.set_ylim(0, 102)
        ax.set_xlabel("Epochs since the acquisition was confirmed")
        ax.set_ylabel("Still right (%, Kaplan–Meier)")
        ax.set_title(f"after {kind} (facts wrong at epoch 0)", fontsize=10)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, title="stable_epochs", title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig
