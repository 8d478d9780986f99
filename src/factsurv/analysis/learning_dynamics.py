"""When loss and learning diverge (arXiv 2601.03858), on a finished run's per-epoch tables: loss vs
recall (:mod:`factsurv.analysis.loss_recall`), consolidation and retention after acquisition
(:mod:`factsurv.analysis.consolidation`), stopping criteria (:mod:`factsurv.analysis.stopping`), and
the run's one-number results of the three (``learning_summary.tsv``). No model pass: every number
comes from the eval tables (through trajectories.tsv, and their ``gold_logprob``: the teacher-forced
loss of the right answers, which eval_epoch computes beside the greedy answers), the checkpoints'
training loss and the control accuracy.
Definitions and formulas: docs/consolidation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.consolidation import consolidation_facts, consolidation_table, retention_curves
from factsurv.analysis.loss_recall import disagree_epochs, loss_recall_correlation, loss_recall_table
from factsurv.analysis.stopping import StoppingSettings, stopping_series, stopping_table
from factsurv.tables import LEARNING_SUMMARY_COLUMNS


@dataclass
class LearningDynamics:
    """The tables of rule learning_dynamics."""

    loss_recall: pd.DataFrame
    correlation: dict[str, Any]
    facts: pd.DataFrame
    consolidation: pd.DataFrame
    retention: pd.DataFrame
    series: pd.DataFrame
    stopping: pd.DataFrame
    summary: pd.DataFrame


def _row(analysis: str, metric: str, group: str, value: Any, lo: Any = np.nan, hi: Any = np.nan, n: Any = np.nan,
         note: str = "") -> dict[str, Any]:
    return {"analysis": analysis, "metric": metric, "group": group, "value": value, "lower_95": lo,
            "upper_95": hi, "n": n, "note": note}


def learning_summary(loss: pd.DataFrame, correlation: Mapping[str, Any], consolidation: pd.DataFrame,
                     stopping: pd.DataFrame) -> pd.DataFrame:
    """:data:`LEARNING_SUMMARY_COLUMNS`: the loss–recall correlation and disagreements, the
    consolidation shares per kind and group, each criterion's stop epoch and kept trained recall."""
    rows = []
    c = correlation
    rows.append(_row("loss_recall", "pearson_loss_decrease_recall_gain", "trained", c["pearson"],
                     c["pearson_lower_95"], c["pearson_upper_95"], c["n"],
                     c["note"] or f"p = {c['pearson_p']:.3g}"))
    rows.append(_row("loss_recall", "spearman_loss_decrease_recall_gain", "trained", c["spearman"], n=c["n"],
                     note=c["note"] or f"p = {c['spearman_p']:.3g}"))
    compared = loss.dropna(subset=["loss_change", "recall_change"])
    epochs = disagree_epochs(loss)
    rows.append(_row("loss_recall", "loss_falls_epochs", "trained", int((compared["loss_change"] < 0).sum()),
                     n=len(compared)))
    rows.append(_row("loss_recall", "recall_falls_epochs", "trained",
                     int((loss["recall_change"].dropna() < 0).sum()), n=int(loss["recall_change"].notna().sum())))
    rows.append(_row("loss_recall", "disagree_epochs", "trained", len(epochs), n=len(compared),
                     note="epochs " + ", ".join(map(str, epochs)) if epochs else "none"))
    for r in consolidation.itertuples():
        group = r.group if r.group_var == "all" else f"{r.group_var}: {r.group}"
        for metric, lo, hi in (("acquired_share", r.acquired_lower_95, r.acquired_upper_95),
                               ("retained_share", r.retained_lower_95, r.retained_upper_95),
                               ("consolidated_share", r.consolidated_lower_95, r.consolidated_upper_95)):
            n = r.n_facts if metric == "acquired_share" else r.n_acquired
            rows.append(_row(f"consolidation_{r.kind}", metric, group, getattr(r, metric), lo, hi, n))
        rows.append(_row(f"consolidation_{r.kind}", "flip_flop_share", group, r.flip_flop_share, n=r.n_acquired))
        rows.append(_row(f"consolidation_{r.kind}", "median_retention", group, r.median_retention, n=r.n_acquired,
                         note="" if r.group_var == "all" or pd.isna(r.logrank_p) else f"log-rank p = {r.logrank_p:.3g}"))
    for r in stopping.itertuples():
        rows.append(_row("stopping", "stop_epoch", r.criterion, r.stop_epoch, note=r.note))
        rows.append(_row("stopping", "trained_recall", r.criterion, r.trained_recall, r.trained_recall_lower_95,
                         r.trained_recall_upper_95))
    return pd.DataFrame(rows, columns=list(LEARNING_SUMMARY_COLUMNS))


def learning_dynamics(trajectories: pd.DataFrame, train_loss: Mapping[int, float], *,
                      selection: Mapping[str, Mapping[str, Any]], group_by: Sequence[str],
                      recall_tolerance: float, stopping: StoppingSettings, control: pd.DataFrame | None = None,
                      extra: pd.DataFrame | None = None,
                      validation_loss: Mapping[int, float] | None = None,
                      gold: pd.DataFrame | None = None) -> LearningDynamics:
    """Every table of the rule from the run's trajectories, the training loss per epoch, the kinds'
    fact selections (acquisition, generalization), the grouping columns, the settings, the control
    accuracy table, per-fact extra columns (the probe's mastery) and the validation loss per epoch
    (given, or from ``gold``: the eval tables' teacher-forced log-probabilities of the right answers)."""
    loss = loss_recall_table(trajectories, train_loss, recall_tolerance)
    corr = loss_recall_correlation(loss)
    facts = consolidation_facts(trajectories, selection, group_by, extra)
    cons = consolidation_table(facts)
    retention = retention_curves(facts, int(trajectories["epoch"].max()))
    series = stopping_series(trajectories, train_loss, stopping, selection["generalization"], control,
                             validation_loss, gold)
    stop = stopping_table(series, stopping)
    return LearningDynamics(loss, corr, facts, cons, retention, series, stop,
                            learning_summary(loss, corr, cons, stop))
