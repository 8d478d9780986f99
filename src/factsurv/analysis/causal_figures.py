"""The exposure figure (rule exposure_effect): what the randomized dose left at baseline, how the
trained facts of each dose were learnt, and the hazard ratios beside the paper's HR(latent)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from factsurv.analysis.figures import COLORS, _titles, plt

PAPER_HR_LATENT = 2.6
#: forest rows: (estimand, covariate, label)
FOREST_ROWS = (
    ("total", "log2_dose", "exposure, total (at risk)"),
    ("itt", "log2_dose", "exposure, intention to treat"),
    ("itt_adjusted", "log2_dose", "exposure, ITT | covariates"),
    ("direct", "log2_dose", "exposure, direct (| latent)"),
    ("latent_observational", "latent", "latent, observational"),
    ("latent_adjusted", "latent", "latent | exposure"),
)


def plot_exposure(baseline: pd.DataFrame, curves: pd.DataFrame, effect: pd.DataFrame, *, run: str = "") -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    b = baseline[baseline["split"] == "all"].sort_values("dose")
    x = np.arange(len(b))
    for off, (col, label, color) in enumerate((("known", "known (greedy right)", COLORS[0]),
                                                 ("latent", "latent (greedy wrong, a sample right)", COLORS[1]))):
        share = b[f"{col}_share"].to_numpy(float)
        err = np.vstack([share - b[f"{col}_lower_95"].to_numpy(float), b[f"{col}_upper_95"].to_numpy(float) - share])
        ax.bar(x + (off - 0.5) * 0.38, 100 * share, width=0.38, yerr=100 * err, capsize=3, color=color, label=label)
    ax.set_xticks(x, [f"{d}\n(n={n})" for d, n in zip(b["dose"], b["n"])])
    ax.set_xlabel("dose: documents stating the identifier")
    ax.set_ylabel("% of facts at baseline (95 % CI)")
    ax.set_title("Baseline knowledge by randomized dose")
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[1]
    for i, (dose, g) in enumerate(curves.groupby("dose")):
        g = g.sort_values("epoch")
        ax.plot(g["epoch"], 100 * g["recall"], marker="o", ms=3, color=COLORS[i % len(COLORS)],
                label=f"dose {dose} (n={int(g['n'].iloc[0])})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("trained-fact recall, %")
    ax.set_title("Trained facts by dose")
    ax.legend(fontsize=8)

    ax = axes[2]
    labels, est, lo, hi = [], [], [], []
    for estimand, cov, label in FOREST_ROWS:
        r = effect[(effect["estimand"] == estimand) & (effect["covariate"] == cov)]
        v = float(r["estimate"].iloc[0]) if len(r) and pd.notna(r["estimate"].iloc[0]) else math.nan
        labels.append(label + ("" if np.isfinite(v) else " (not estimated)"))
        est.append(v)
        lo.append(float(r["lower_95"].iloc[0]) if np.isfinite(v) else math.nan)
        hi.append(float(r["upper_95"].iloc[0]) if np.isfinite(v) else math.nan)
    y = np.arange(len(labels))[::-1]
    est, lo, hi = map(np.asarray, (est, lo, hi))
    ok = np.isfinite(est)
    ax.errorbar(est[ok], y[ok], xerr=np.vstack([est[ok] - lo[ok], hi[ok] - est[ok]]), fmt="o", color="black", capsize=3)
    ax.axvline(1, color="grey", lw=0.8)
    ax.axvline(PAPER_HR_LATENT, color=COLORS[1], ls="--", lw=1, label="the paper's HR(latent) 2.6")
    ax.set_xscale("log")
    ax.set_yticks(y, labels)
    ax.set_xlabel("hazard ratio (95 % CI); dose rows per doubling of 1 + dose")
    share = effect[effect["estimand"] == "mediated_share"]
    title = "Acquisition hazard ratios"
    if len(share) and pd.notna(share["estimate"].iloc[0]):
        s = share.iloc[0]
        title += f"\nshare of exposure's effect through latent: {s['estimate']:.2f} [{s['lower_95']:.2f}, {s['upper_95']:.2f}]"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    _titles(fig, "Randomized prior exposure: a causal estimate beside the observational HR(latent)", run, False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
