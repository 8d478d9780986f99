"""Figures of an experiment's joint analysis, drawn from its tables (results/experiments/{name}/)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from factsurv.analysis.figures import COLORS, _empty  # noqa: E402


def _title(fig: plt.Figure, title: str, experiment: str) -> None:
    fig.suptitle(f"{title}\nexperiment {experiment}", fontsize=12, y=1.0, va="bottom")


def plot_curves(curves: pd.DataFrame, *, experiment: str) -> plt.Figure:
    """Cumulative share acquired per condition: mean over seeds, band min..max."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    data = curves[curves["group"] == "all"] if len(curves) else curves
    if data.empty:
        _empty(ax, "no acquisition events table")
    for i, ((model, design), sub) in enumerate(data.groupby(["model", "design"], sort=False)):
        color = COLORS[i % len(COLORS)]
        sub = sub.sort_values("epoch")
        n = int(sub["n_seeds"].max())
        ax.plot(sub["epoch"], sub["mean"], color=color, marker="o", ms=3, label=f"{model}/{design} ({n} seeds)")
        ax.fill_between(sub["epoch"], sub["min"], sub["max"], color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("share of trained facts acquired")
    ax.set_ylim(0, 1)
    if not data.empty:
        ax.legend(fontsize=8, loc="upper left")
    _title(fig, "Acquisition per condition (band: lowest to highest seed)", experiment)
    return fig


def plot_latent_forest(cox: pd.DataFrame, *, experiment: str) -> plt.Figure:
    """HR(latent) per condition and in the joint model, robust 95% intervals, log scale."""
    rows = cox[(cox["covariate"] == "latent")] if len(cox) else cox
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * max(len(rows), 1)))
    if rows.empty:
        _empty(ax, "latent was not in the joint models")
        _title(fig, "HR(latent) for acquisition", experiment)
        return fig
    labels = []
    for y, (_, r) in enumerate(rows.iloc[::-1].iterrows()):
        label = "joint (all runs)" if r["model"] == "joint" else str(r["condition"])
        labels.append(f"{label}  n={int(r['n'])}, events={int(r['n_events'])}")
        if bool(r["converged"]) and np.isfinite(r["hr"]):
            filled = r["model"] == "joint"
            ax.plot([r["hr_lower_95"], r["hr_upper_95"]], [y, y], color="black", lw=1.2)
            ax.plot([r["hr"]], [y], marker="s", color="black", mfc="black" if filled else "white", ms=7)
        else:
            ax.plot([1], [y], marker="x", color="#b22222", ms=8)
    ax.axvline(1, color="#888888", ls="--", lw=1)
    ax.axvline(2.6, color="#2ca02c", ls=":", lw=1, label="paper: 2.6")
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("hazard ratio of latent facts (95% CI, SEs clustered by fact)")
    ax.legend(fontsize=8, loc="lower right")
    _title(fig, "HR(latent) for acquisition per condition", experiment)
    return fig


def plot_degradation(deg: pd.DataFrame, *, experiment: str) -> plt.Figure:
    """Degradation share, seen vs unseen, per condition: bars pooled, lines min..max over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4))
    if deg.empty:
        _empty(ax, "no facts correct at baseline in the degradation selection")
        _title(fig, "Degradation seen vs unseen", experiment)
        return fig
    conditions = list(dict.fromkeys(zip(deg["model"], deg["design"])))
    width = 0.38
    for j, (seen, label, color) in enumerate([(1, "seen (trained)", COLORS[0]), (0, "unseen (withheld)", COLORS[1])]):
        for i, cond in enumerate(conditions):
            r = deg[(deg["model"] == cond[0]) & (deg["design"] == cond[1]) & (deg["seen"] == seen)]
            if r.empty:
                continue
            r = r.iloc[0]
            x = i + (j - 0.5) * width
            ax.bar(x, r["share"], width, color=color, label=label if i == 0 else None)
            ax.plot([x, x], [r["seed_min"], r["seed_max"]], color="black", lw=1)
            ax.text(x, r["share"], f"{int(r['n_events'])}/{int(r['n'])}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(conditions)))
    ax.set_xticklabels([f"{m}/{d}" for m, d in conditions], fontsize=8)
    ax.set_ylabel("share of baseline-correct facts lost")
    ax.legend(fontsize=8)
    _title(fig, "Degradation seen vs unseen per design", experiment)
    return fig
