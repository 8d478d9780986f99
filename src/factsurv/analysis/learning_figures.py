"""The figures of the learning-dynamics analysis (rule learning_dynamics), drawn from its tables:
loss vs recall per epoch, retention after the first acquisition, the stopping criteria."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from factsurv.analysis.figures import COLORS, _empty, _titles, kind_panels, km_step  # noqa: E402

CRITERION_LABELS = {
    "loss_plateau": "loss plateau",
    "validation_loss_min": "validation-loss minimum",
    "recall_plateau": "trained-recall plateau",
    "probe_recall_max": "probe-set recall maximum",
    "control_drop": "control drop",
    "last_epoch": "last epoch",
    "hindsight_best": "best in hindsight",
}


def _integer_epochs(ax: plt.Axes) -> None:
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def plot_loss_recall(table: pd.DataFrame, correlation: dict, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Left: training loss and trained recall per epoch, the epochs where the loss falls and the
    recall does not shaded. Right: recall gain against loss decrease per epoch, with Pearson's r."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.5))
    _titles(fig, "Loss vs learning: training loss and trained-fact recall per epoch", run, demo)
    ax = axes[0]
    t = table.sort_values("epoch")
    ax.plot(t["epoch"], 100 * t["recall"], "-o", ms=3.5, lw=2, color=COLORS[0], label="trained recall")
    ax.set_ylabel("Trained facts right (%)", color=COLORS[0])
    ax.set_ylim(0, 100)
    for e in t.loc[t["disagree"] == 1, "epoch"]:
        ax.axvspan(e - 0.5, e + 0.5, color="#ffcc80", alpha=0.45, lw=0)
    loss = t.dropna(subset=["train_loss"])
    if len(loss):
        bx = ax.twinx()
        bx.plot(loss["epoch"], loss["train_loss"], "--s", ms=3.5, lw=1.8, color=COLORS[1])
        bx.set_ylabel("Training loss (mean over the epoch)", color=COLORS[1])
    ax.set_xlabel("Epoch (shaded: loss falls, recall flat or down)")
    _integer_epochs(ax)
    ax = axes[1]
    d = t.dropna(subset=["loss_change", "recall_change"])
    if d.empty:
        _empty(ax, "fewer than two epochs with a training loss")
    else:
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        colors = [COLORS[4] if x == 1 else COLORS[0] for x in d["disagree"]]
        ax.scatter(-d["loss_change"], 100 * d["recall_change"], c=colors, s=30, zorder=3)
        for _, r in d.iterrows():
            ax.annotate(str(int(r["epoch"])), (-r["loss_change"], 100 * r["recall_change"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        r = correlation.get("pearson", np.nan)
        text = (f"Pearson r = {r:.2f}, Spearman ρ = {correlation.get('spearman', np.nan):.2f} "
                f"({correlation.get('n', 0)} epochs)") if np.isfinite(r) else (correlation.get("note") or "no r")
        ax.set_title(text, fontsize=9)
        ax.set_xlabel("Loss decrease from the epoch before")
        ax.set_ylabel("Trained-recall gain (points)")
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def plot_retention(curves: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Kaplan–Meier share still right by epochs since the first acquisition, one panel per kind,
    all facts and every group of the first grouping column, 95 % bands."""
    fig, panels = kind_panels(curves, "Retention after the first acquisition", run, demo)
    for ax, kind, g in panels:
        if g.empty:
            _empty(ax, "no fact acquired before the last epoch")
            continue
        vars_ = [v for v in pd.unique(g["group_var"]) if v != "all"]
        shown = g[g["group_var"].isin(["all", *vars_[:1]])]
        for i, ((var, group), c) in enumerate(shown.groupby(["group_var", "group"], sort=False)):
            km_step(ax, c, color=COLORS[i % len(COLORS)], name=str(group), lw=2.4 if var == "all" else 1.6,
                    ls="-" if var == "all" else "--", alpha=0.12)
        ax.set_ylim(0, 102)
        ax.set_xlabel("Epochs since the first acquisition")
        ax.set_ylabel("Still right (%, Kaplan–Meier)")
        ax.set_title("trained facts" if kind == "acquisition" else "withheld facts (generalized)", fontsize=10)
        _integer_epochs(ax)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def plot_stopping(stopping: pd.DataFrame, series: pd.DataFrame, *, run: str = "", demo: bool = False) -> plt.Figure:
    """Left: the monitored series per epoch (``series``: epoch, trained_recall, probe_recall,
    generalization, control_accuracy, train_loss, validation_loss) with each criterion's stop epoch.
    Right: what each stop keeps (trained recall, generalization, control accuracy)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})
    _titles(fig, "Stopping criteria: where each stops and what it keeps", run, demo)
    ax = axes[0]
    s = series.sort_values("epoch")
    for i, (col, label) in enumerate((("trained_recall", "trained recall"), ("probe_recall", "probe-set recall"),
                                      ("generalization", "generalization (other withheld)"),
                                      ("control_accuracy", "control accuracy"))):
        if col in s and s[col].notna().any():
            ax.plot(s["epoch"], 100 * s[col], "-o", ms=3, lw=1.8, color=COLORS[i], label=label)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_xlabel("Epoch")
    bx = ax.twinx()
    for col, style, label in (("train_loss", "--", "training loss"), ("validation_loss", ":", "validation loss")):
        if col in s and s[col].notna().any():
            bx.plot(s["epoch"], s[col], style, lw=1.5, color="#555555", label=label)
    bx.set_ylabel("loss")
    rows = stopping.dropna(subset=["stop_epoch"])
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = bx.get_legend_handles_labels()
    marks = []
    for j, (_, r) in enumerate(rows.iterrows()):
        marks.append(ax.axvline(float(r["stop_epoch"]) + 0.04 * (j - len(rows) / 2), lw=1.2, alpha=0.85,
                                color=COLORS[(j + 4) % len(COLORS)], ls=(0, (4, 2)),
                                label=f"{CRITERION_LABELS.get(r['criterion'], r['criterion'])}: {int(r['stop_epoch'])}"))
    first = ax.legend(h1 + h2, l1 + l2, fontsize=7, frameon=False, loc="upper left")
    ax.add_artist(first)
    if marks:
        ax.legend(handles=marks, fontsize=7, frameon=False, loc="upper right", title="stop epoch", title_fontsize=7)
    _integer_epochs(ax)
    ax = axes[1]
    names = list(stopping["criterion"])
    y = np.arange(len(names))
    for k, (col, label) in enumerate((("trained_recall", "trained recall"), ("generalization", "generalization"),
                                      ("control_accuracy", "control accuracy"))):
        ax.barh(y + (k - 1) * 0.26, 100 * stopping[col].astype(float), height=0.26, color=COLORS[[0, 2, 3][k]],
                label=label)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{CRITERION_LABELS.get(n, n)} (epoch {'–' if pd.isna(e) else int(e)})"
                        for n, e in zip(names, stopping["stop_epoch"])], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("kept at the stop epoch (%)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig
