"""The demo's scientific claims as bands, measured on a finished run (used by the robustness bench
and by the demo test, so that both check the same thing).

A claim about the offline demo must hold on every machine, seed and thread count, not at one lucky
point: :data:`BANDS` are the ranges every case of ``bench/demo_robustness.py`` must fall in.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from factsurv.analysis.cox import fit_cox

#: known at baseline (share of all facts), latent (share of the facts wrong at baseline), the rise of
#: trained-fact recall (epoch 0 → last, fraction points), the lower CI bound of the univariable
#: HR(latent) for acquisition (all trained facts and HPO alone), events for generalization and
#: degradation, and the arithmetic accuracy of the base model on the control items.
BANDS: dict[str, tuple[float, float]] = {
    "known_share": (0.03, 0.15),
    "latent_share_of_wrong": (0.04, 1.0),
    "trained_recall_gain": (0.50, 1.0),
    "hr_latent_lower_95": (1.0, math.inf),
    "hr_latent_hpo_lower_95": (1.0, math.inf),
    "generalization_events": (10, math.inf),
    "degradation_events": (10, math.inf),
    # the demo corpus states 1500 sums "What is a + b?" (operands 0-19, answers 0-38:
    # chance about 1/37 on the 200 control items); the pretrained demo models of seeds 0 and 2
    # answer 0.435 of them right at epoch 0 (measured 2026-12-01, threads 1)
    "control_accuracy_epoch_0": (0.2, 1.0),
}


def _hr_latent(events: pd.DataFrame) -> dict[str, float]:
    fit = fit_cox(events, ["latent"])
    if not fit.converged or fit.summary is None:
        return {"hr": math.nan, "lower_95": math.nan, "upper_95": math.nan, "n_events": int(events["event"].sum())}
    s = fit.summary.loc["latent"]
    return {"hr": float(s["exp(coef)"]), "lower_95": float(s["exp(coef) lower 95%"]),
            "upper_95": float(s["exp(coef) upper 95%"]), "n_events": int(events["event"].sum())}


def run_metrics(results: str | Path, run: str) -> dict[str, Any]:
    """The banded numbers of one finished run under ``results`` (the workflow's results folder)."""
    root = Path(results)
    facts = pd.read_csv(root / "facts" / "facts.tsv", sep="\t", dtype={"fact_id": str})
    probe = pd.read_csv(root / run / "probe" / "baseline.tsv", sep="\t", dtype={"fact_id": str})
    evals = sorted((root / run / "eval").glob("epoch_*.tsv"), key=lambda p: int(p.stem.split("_")[1]))
    first = pd.read_csv(evals[0], sep="\t", dtype={"fact_id": str})
    last = pd.read_csv(evals[-1], sep="\t", dtype={"fact_id": str})
    trained = set(facts.loc[facts["split"] == "train", "fact_id"])
    wrong = probe["greedy_correct"] == 0
    acq = pd.read_csv(root / run / "analysis" / "events_acquisition.tsv", sep="\t")
    gen = pd.read_csv(root / run / "analysis" / "events_generalization.tsv", sep="\t")
    deg = pd.read_csv(root / run / "analysis" / "events_degradation.tsv", sep="\t")
    recall0 = float(first.loc[first["fact_id"].isin(trained), "correct"].mean())
    recall_last = float(last.loc[last["fact_id"].isin(trained), "correct"].mean())
    control = _control_accuracy(root / run / "control")
    hr_all = _hr_latent(acq)
    hr_hpo = _hr_latent(acq[acq["ontology"] == "hpo"])
    return {
        "facts": len(facts),
        "epochs": len(evals) - 1,
        "known_share": round(float(probe["greedy_correct"].mean()), 4),
        "latent_share": round(float(probe["latent"].mean()), 4),
        "latent_share_of_wrong": round(float(probe.loc[wrong, "latent"].mean()), 4),
        "mastery": probe["mastery"].value_counts().to_dict() if "mastery" in probe else {},
        "trained_recall_epoch_0": round(recall0, 4),
        "trained_recall_last": round(recall_last, 4),
        "trained_recall_gain": round(recall_last - recall0, 4),
        "hr_latent": round(hr_all["hr"], 3), "hr_latent_lower_95": round(hr_all["lower_95"], 3),
        "hr_latent_upper_95": round(hr_all["upper_95"], 3),
        "hr_latent_hpo": round(hr_hpo["hr"], 3), "hr_latent_hpo_lower_95": round(hr_hpo["lower_95"], 3),
        "hr_latent_hpo_upper_95": round(hr_hpo["upper_95"], 3),
        "acquisition_events": hr_all["n_events"],
        "generalization_events": int(gen["event"].sum()), "generalization_at_risk": len(gen),
        "degradation_events": int(deg["event"].sum()), "degradation_at_risk": len(deg),
        "degradation_seen": f"{int(deg.loc[deg['seen'] == 1, 'event'].sum())}/{int((deg['seen'] == 1).sum())}",
        "degradation_unseen": f"{int(deg.loc[deg['seen'] == 0, 'event'].sum())}/{int((deg['seen'] == 0).sum())}",
        **control,
    }


def _control_accuracy(folder: Path) -> dict[str, Any]:
    """Arithmetic accuracy of the control probe at epoch 0 (the base model: the demo
    corpus states such sums), at the last epoch and per epoch; nothing when the run has no control
    tables (control.enabled: false)."""
    tables = sorted(folder.glob("epoch_*.tsv"), key=lambda p: int(p.stem.split("_")[1]))
    if not tables:
        return {}
    acc = []
    for p in tables:
        t = pd.read_csv(p, sep="\t", dtype={"item_id": str})
        acc.append(round(float(t.loc[t["kind"] == "arithmetic", "correct"].mean()), 4))
    return {"control_accuracy_epoch_0": acc[0], "control_accuracy_last": acc[-1], "control_accuracy_by_epoch": acc}


def outside_bands(metrics: dict[str, Any], bands: dict[str, tuple[float, float]] = BANDS) -> list[str]:
    """The claims a run misses, one line each (empty: every band holds)."""
    misses = []
    for key, (lo, hi) in bands.items():
        v = metrics.get(key)
        if v is None or not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
            misses.append(f"{key} = {v} (band [{lo}, {hi}])")
    return misses
