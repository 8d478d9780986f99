"""Stopping criteria read off a finished run (arXiv 2601.03858 argues for stopping by task-level
learning dynamics rather than by the loss): the epoch each criterion would have stopped at, and what
the model kept there holds, beside the last epoch and the best epoch in hindsight.

Series per epoch (docs/consolidation.md has the formulas): the training loss L_e (e ≥ 1), the
trained facts' recall R_e, the recall P_e of the **held-back probe set**, the out-of-domain control
accuracy C_e (all control items pooled) and a validation loss V_e (the mean teacher-forced loss per
token of the probe set's correct answers, from the eval tables' ``gold_logprob`` and ``gold_tokens``:
one teacher-forced forward pass per fact that eval_epoch makes beside its greedy answers; eval tables
made before those columns existed give "not estimated"). The probe set is a
keyed share (``probe_share``, drawn by (``probe_seed``, fact_id)) of the facts of the
generalization selection (by default the withheld GO facts); the generalization a stop keeps is
measured on the others.

A **patience** rule (Keras' EarlyStopping) watches a series x from its first epoch: the best value so
far improves when a new value beats it by more than δ (``loss_tolerance`` × |best| for the loss,
``recall_tolerance`` in recall for the recall, 0 for the probe set); the rule fires at the first
epoch t after ``patience`` epochs in a row without an improvement. The model kept is the one of
epoch t (``restore: false``) or the best epoch up to t (``restore: true``).

| criterion | monitors | rule | kept |
|---|---|---|---|
| ``loss_plateau`` | L_e | patience, relative δ | epoch t |
| ``validation_loss_min`` | V_e | patience, δ = 0 | the minimum of V up to t |
| ``recall_plateau`` | R_e | patience, absolute δ | epoch t |
| ``probe_recall_max`` | P_e | patience, δ = 0 | the maximum of P up to t |
| ``control_drop`` | C_e | fires at the first e with C_0 − C_e > ``control_drop`` | epoch e − 1 |
| ``last_epoch`` | | | E |
| ``hindsight_best`` | R_e | (an oracle) | the first epoch of the highest R |

A criterion that never fires keeps the last epoch (``triggered`` 0; ``epochs_trained`` = E).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factsurv.analysis.events import correctness_matrix
from factsurv.analysis.summary import wilson
from factsurv.designs import fact_key
from factsurv.tables import STOPPING_COLUMNS, STOPPING_SERIES_COLUMNS

log = logging.getLogger("factsurv")

#: comparisons of shares allow for float rounding (0.8 − 0.7 is 0.1000…09): "more than δ" is > δ + EPS
EPS = 1e-9


@dataclass(frozen=True)
class StoppingSettings:
    """analysis.learning_dynamics.stopping (defaults: the config schema)."""

    patience: int
    loss_tolerance: float
    recall_tolerance: float
    control_drop: float
    probe_share: float
    probe_seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StoppingSettings:
        """The ``analysis.learning_dynamics.stopping`` block (the rule's ``params.stopping``); a missing
        or unknown key raises :class:`factsurv.config.ConfigError` (the schema checks the ranges)."""
        from factsurv.config import settings_from

        return settings_from(cls, params, "analysis.learning_dynamics.stopping")


def patience_stop(series: Mapping[int, float], *, lower_is_better: bool, patience: int, delta: float = 0.0,
                  relative: bool = False, restore: bool = False) -> tuple[int | None, int | None, bool]:
    """(kept epoch, epoch the rule fires or the last epoch, fired) for the patience rule of the
    module docstring over the finite values of ``series`` (epoch → value); (None, None, False)
    without values."""
    items = [(int(e), float(v)) for e, v in sorted(series.items()) if v is not None and np.isfinite(v)]
    if not items:
        return None, None, False
    sign = 1.0 if lower_is_better else -1.0
    best_e, best = items[0]
    wait = 0
    for e, v in items[1:]:
        margin = delta * abs(best) if relative else delta
        if sign * (best - v) > margin + EPS:
            best_e, best, wait = e, v, 0
        else:
            wait += 1
        if wait >= patience:
            return (best_e if restore else e), e, True
    last = items[-1][0]
    return (best_e if restore else last), last, False


def control_stop(accuracy: Mapping[int, float], drop: float) -> tuple[int | None, int | None, bool]:
    """(kept epoch e − 1, epoch e, fired) for the first e ≥ 1 with C_0 − C_e > ``drop``."""
    items = sorted((int(e), float(v)) for e, v in accuracy.items() if np.isfinite(v))
    if not items or items[0][0] != 0:
        return None, None, False
    base = items[0][1]
    for i, (e, v) in enumerate(items[1:], 1):
        if base - v > drop + EPS:
            return items[i - 1][0], e, True
    return items[-1][0], items[-1][0], False


def probe_split(fact_ids: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """(held-back probe facts, the others): the round(share · n) facts with the smallest keys
    (seed, "stopping_probe", fact_id)."""
    ids = sorted(set(fact_ids), key=lambda f: fact_key(seed, "stopping_probe", f))
    k = int(round(share * len(ids)))
    if len(ids) >= 2:
        k = min(max(k, 1), len(ids) - 1)
    return sorted(ids[:k]), sorted(ids[k:])


def selection_ids(trajectories: pd.DataFrame, spec: Mapping[str, Any]) -> list[str]:
    """The fact ids of an event kind's selection (splits, ontologies)."""
    f = trajectories[trajectories["epoch"] == 0]
    keep = f["split"].isin(list(spec["splits"]))
    if spec.get("ontologies") is not None:
        keep &= f["ontology"].isin(list(spec["ontologies"]))
    return sorted(f.loc[keep, "fact_id"])


def control_series(control: pd.DataFrame | None) -> dict[int, float]:
    """epoch → accuracy over all control items (the kinds pooled)."""
    if control is None or control.empty:
        return {}
    g = control.groupby("epoch")[["correct", "n"]].sum()
    return {int(e): float(r["correct"] / r["n"]) if r["n"] else np.nan for e, r in g.iterrows()}


def validation_losses(gold: pd.DataFrame | None, fact_ids: Sequence[str]) -> dict[int, float]:
    """epoch → V_e = −Σ gold_logprob / Σ gold_tokens over ``fact_ids`` (the eval tables' teacher-forced
    log-probability of the right answers: a loss per token); {} without those columns (tables made
    before they existed) or facts."""
    if gold is None or not len(fact_ids) or not {"gold_logprob", "gold_tokens"} <= set(gold.columns):
        return {}
    g = gold[gold["fact_id"].isin(set(fact_ids))].copy()
    g["gold_logprob"] = pd.to_numeric(g["gold_logprob"], errors="coerce")
    g["gold_tokens"] = pd.to_numeric(g["gold_tokens"], errors="coerce")
    g = g.dropna(subset=["gold_logprob", "gold_tokens"])
    sums = g.groupby("epoch")[["gold_logprob", "gold_tokens"]].sum()
    return {int(e): float(-r["gold_logprob"] / r["gold_tokens"]) for e, r in sums.iterrows() if r["gold_tokens"] > 0}


def stopping_series(trajectories: pd.DataFrame, train_loss: Mapping[int, float], settings: StoppingSettings,
                    generalization: Mapping[str, Any], control: pd.DataFrame | None = None,
                    validation_loss: Mapping[int, float] | None = None,
                    gold: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per epoch 0 … E the series the criteria watch and what a stop keeps
    (:data:`STOPPING_SERIES_COLUMNS`): L_e, V_e, R_e (with its facts right), P_e, the
    generalization on the withheld facts outside the probe set that are wrong at epoch 0 (and their
    number), C_e. V_e is ``validation_loss`` when given, else :func:`validation_losses` of ``gold``
    (fact_id, epoch, gold_logprob, gold_tokens: the eval tables) over the probe set."""
    correct = correctness_matrix(trajectories)
    epochs = list(range(int(correct.columns.max()) + 1))
    trained = sorted(trajectories.loc[(trajectories["split"] == "train") & (trajectories["epoch"] == 0), "fact_id"])
    probe, rest = probe_split(selection_ids(trajectories, generalization), settings.probe_share, settings.probe_seed)
    if validation_loss is None:
        validation_loss = validation_losses(gold, probe)
    gen_ids = [f for f in rest if correct.loc[f, 0] == 0]
    accuracy = control_series(control)
    rows = []
    for e in epochs:
        rows.append({"epoch": e, "train_loss": float(train_loss.get(e, np.nan)),
                     "validation_loss": float((validation_loss or {}).get(e, np.nan)), "n_trained": len(trained),
                     "trained_correct": int(correct.loc[trained, e].sum()),
                     "trained_recall": float(correct.loc[trained, e].mean()) if trained else np.nan,
                     "n_probe": len(probe), "probe_recall": float(correct.loc[probe, e].mean()) if probe else np.nan,
                     "n_generalization": len(gen_ids),
                     "generalized": int(correct.loc[gen_ids, e].sum()),
                     "generalization": float(correct.loc[gen_ids, e].mean()) if gen_ids else np.nan,
                     "control_accuracy": accuracy.get(e, np.nan)})
    log.info("stopping: probe set %d facts, generalization measured on %d facts wrong at epoch 0 of %d others",
             len(probe), len(gen_ids), len(rest))
    return pd.DataFrame(rows, columns=list(STOPPING_SERIES_COLUMNS))


def _by_epoch(series: pd.DataFrame, col: str) -> dict[int, float]:
    return {int(e): float(v) for e, v in zip(series["epoch"], series[col]) if np.isfinite(v)}


def stopping_table(series: pd.DataFrame, settings: StoppingSettings) -> pd.DataFrame:
    """The table :data:`STOPPING_COLUMNS` from :func:`stopping_series`, one row per criterion of
    the module docstring."""
    s = settings
    series = series.sort_values("epoch").set_index("epoch", drop=False)
    last = int(series["epoch"].max())
    recall = _by_epoch(series, "trained_recall")
    rules: list[tuple[str, str, tuple[int | None, int | None, bool], str]] = [
        ("loss_plateau", "training loss",
         patience_stop(_by_epoch(series, "train_loss"), lower_is_better=True, patience=s.patience,
                       delta=s.loss_tolerance, relative=True),
         "no training loss in the checkpoints"),
        ("validation_loss_min", "validation loss (held-back probe set)",
         patience_stop(_by_epoch(series, "validation_loss"), lower_is_better=True, patience=s.patience,
                       restore=True),
         "not estimated: no validation loss (eval tables without gold_logprob, made before it existed, "
         "or no probe set)"),
        ("recall_plateau", "trained recall",
         patience_stop(recall, lower_is_better=False, patience=s.patience, delta=s.recall_tolerance),
         "no trained facts"),
        ("probe_recall_max", "recall (held-back probe set)",
         patience_stop(_by_epoch(series, "probe_recall"), lower_is_better=False, patience=s.patience,
                       restore=True),
         "no held-back probe set: the generalization selection has no facts"),
        ("control_drop", "control accuracy", control_stop(_by_epoch(series, "control_accuracy"), s.control_drop),
         "no control probe (control.enabled: false)"),
        ("last_epoch", "", (last, last, False), ""),
    ]
    best_recall = max(recall.values(), default=np.nan)
    best = next((e for e in sorted(recall) if recall[e] == best_recall), None)
    rules.append(("hindsight_best", "trained recall (all epochs, in hindsight)", (best, last, False), ""))

    def kept(e: int | None) -> dict[str, Any]:
        if e is None:
            return {}
        r = series.loc[e]
        tr = wilson(int(r["trained_correct"]), int(r["n_trained"]))
        ge = wilson(int(r["generalized"]), int(r["n_generalization"]))
        return {"trained_recall": tr[0], "trained_recall_lower_95": tr[1], "trained_recall_upper_95": tr[2],
                "generalization": ge[0], "generalization_lower_95": ge[1], "generalization_upper_95": ge[2],
                "n_generalization": int(r["n_generalization"]), "control_accuracy": float(r["control_accuracy"])}

    at_last = kept(last)
    rows = []
    for name, monitors, (stop, fired_at, fired), missing in rules:
        oracle = name in ("last_epoch", "hindsight_best")
        note = missing if stop is None else ("" if fired or oracle else "never fired: keeps the last epoch")
        row: dict[str, Any] = {"criterion": name, "monitors": monitors, "stop_epoch": stop,
                               "epochs_trained": fired_at, "note": note,
                               "triggered": np.nan if stop is None or oracle else int(fired)}
        row.update(kept(stop))
        if stop is not None:
            row["trained_recall_vs_last"] = row["trained_recall"] - at_last["trained_recall"]
            row["trained_recall_vs_best"] = row["trained_recall"] - best_recall
            row["generalization_vs_last"] = row["generalization"] - at_last["generalization"]
            row["control_vs_last"] = row["control_accuracy"] - at_last["control_accuracy"]
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(STOPPING_COLUMNS))
    for col in ("stop_epoch", "epochs_trained", "triggered", "n_generalization"):
        out[col] = out[col].astype("Int64")
    return out
