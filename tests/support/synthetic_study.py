"""Synthetic inputs of the analysis stage with a known effect, for tests and demonstrations.

The generator writes the same files the upstream rules write (facts, literature counts, the probe's
baseline, one eval table per epoch), from a continuous-time proportional-hazards process observed
at whole epochs: a fact at risk has hazard ``rate · hr_latent^latent`` per epoch, so its event
epoch is ``ceil(T)`` with ``T ~ Exponential(rate · hr_latent^latent)``. A Cox model on the events
therefore estimates ``hr_latent`` (up to the small attenuation from tied, grouped times).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from factsurv.io import write_tsv

DEFAULT_COUNTS: dict[str, dict[str, int]] = {"hpo": {"train": 300, "heldout": 0}, "go": {"train": 150, "heldout": 150}}
PREFIX = {"hpo": "HP", "go": "GO"}


@dataclass
class SyntheticStudy:
    """The generated tables and the truth they were generated from."""

    facts: pd.DataFrame
    literature: pd.DataFrame
    baseline: pd.DataFrame
    evals: dict[int, pd.DataFrame]
    truth: dict[str, float] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return max(self.evals)

    def write(self, root: str | os.PathLike[str], run: str) -> dict[str, Path]:
        """Write the tables under ``root`` in the workflow's layout; return the paths."""
        root = Path(root)
        paths = {
            "facts": root / "results/facts/facts.tsv",
            "literature": root / "results/facts/literature_counts.tsv",
            "baseline": root / f"results/{run}/probe/baseline.tsv",
        }
        write_tsv(self.facts, paths["facts"])
        write_tsv(self.literature, paths["literature"])
        write_tsv(self.baseline, paths["baseline"])
        for e, table in self.evals.items():
            paths[f"epoch_{e}"] = root / f"results/{run}/eval/epoch_{e}.tsv"
            write_tsv(table, paths[f"epoch_{e}"])
        return paths


def _event_epoch(rng: np.random.Generator, rate: np.ndarray) -> np.ndarray:
    """Epoch (1, 2, …) at which a hazard ``rate`` per epoch first fires: ceil of an exponential time."""
    t = rng.exponential(1.0 / np.maximum(rate, 1e-12))
    return np.maximum(1, np.ceil(t)).astype(int)


def simulate_study(
    *,
    counts: Mapping[str, Mapping[str, int]] | None = None,
    epochs: int = 10,
    hr_latent: float = 2.5,
    acquisition_rate: float = 0.06,
    generalization_rate: float = 0.01,
    hr_latent_generalization: float = 2.0,
    degradation_rate: float = 0.02,
    hr_unseen_degradation: float = 3.0,
    p_baseline_correct: float = 0.12,
    p_latent: float = 0.3,
    literature: bool = True,
    seed: int = 0,
    acquisition_profile: Sequence[float] | None = None,
    hr_latent_until: int | None = None,
) -> SyntheticStudy:
    """Generate a study. Acquisition (trained facts wrong at baseline) has hazard ratio ``hr_latent``
    for latent facts; other covariates (annotation counts, depth, …) are noise with no effect.

    ``acquisition_profile`` multiplies the acquisition hazard in epoch e by its (e−1)-th value (a
    baseline hazard that rises and falls plants a peak of the newly acquired share; the expected
    peak epochs are in ``truth``). ``hr_latent_until`` = k makes the latent effect act only in
    epochs 1..k (HR 1 afterwards): a planted violation of proportional hazards.
    """
    rng = np.random.default_rng(seed)
    counts = counts or DEFAULT_COUNTS
    rows = []
    for onto in sorted(counts):
        for split in ("train", "heldout"):
            for _ in range(int(counts[onto].get(split, 0))):
                rows.append((onto, split))
    n = len(rows)
    onto = np.array([r[0] for r in rows])
    split = np.array([r[1] for r in rows])
    numbers = rng.choice(np.arange(1, 9_999_999), size=n, replace=False)
    term_id = np.array([f"{PREFIX.get(o, o.upper())}:{k:07d}" for o, k in zip(onto, numbers)])
    labels = [f"synthetic term {i}" for i in range(n)]
    facts = pd.DataFrame({
        "fact_id": [f"{o}:{t}" for o, t in zip(onto, term_id)],
        "ontology": onto,
        "term_id": term_id,
        "label": labels,
        "split": split,
        "namespace": np.where(onto == "go", "cellular_component", "NA"),
        "depth": rng.integers(2, 14, n),
        "n_descendants": rng.geometric(0.3, n) - 1,
        "n_synonyms": rng.poisson(1.5, n),
        "label_chars": rng.integers(8, 60, n),
        "label_words": rng.integers(1, 8, n),
        "leading_zeros": [len(t.split(":")[1]) - len(t.split(":")[1].lstrip("0")) for t in term_id],
        "annotation_count": rng.negative_binomial(1, 0.02, n),
    })
    facts.loc[facts["namespace"] == "NA", "namespace"] = None
    lit = pd.DataFrame({
        "fact_id": facts["fact_id"],
        "identifier_frequency": rng.poisson(3.0, n) if literature else np.nan,
        "term_frequency": rng.poisson(20.0, n) if literature else np.nan,
    })

    correct0 = rng.random(n) < p_baseline_correct
    latent = (~correct0) & (rng.random(n) < p_latent)
    k = 20
    p_correct = np.where(correct0, rng.uniform(0.5, 1.0, n), np.where(latent, rng.uniform(0.05, 0.5, n), 0.0))
    n_correct = np.round(p_correct * k).astype(int)
    n_correct = np.where(latent, np.maximum(n_correct, 1), n_correct)
    baseline = pd.DataFrame({
        "fact_id": facts["fact_id"],
        "greedy_prediction": np.where(correct0, term_id, "none"),
        "greedy_correct": correct0.astype(int),
        "n_samples": k,
        "n_correct_samples": n_correct,
        "p_correct": n_correct / k,
        "latent": latent.astype(int),
    })

    trained = split == "train"
    rate = np.where(
        correct0,
        degradation_rate * np.where(trained, 1.0, hr_unseen_degradation),
        np.where(trained, acquisition_rate * np.where(latent, hr_latent, 1.0),
                 generalization_rate * np.where(latent, hr_latent_generalization, 1.0)),
    )
    acq = trained & ~correct0
    if acquisition_profile is None and hr_latent_until is None:
        change = _event_epoch(rng, rate)  # first epoch whose state differs from epoch 0
        lam = np.repeat(rate[:, None], epochs, axis=1)
    else:  # piecewise-constant hazard per epoch: first epoch whose cumulative hazard passes Exp(1)
        unit = rng.exponential(1.0, n)
        lam = np.repeat(rate[:, None], epochs, axis=1)
        if acquisition_profile is not None:
            prof = np.asarray(list(acquisition_profile) + [acquisition_profile[-1]] * epochs, dtype=float)[:epochs]
            lam[acq] *= prof
        if hr_latent_until is not None:
            lam[np.ix_(acq & latent, np.arange(epochs) >= hr_latent_until)] /= hr_latent
        hit = np.cumsum(lam, axis=1) >= unit[:, None]
        change = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, epochs + 1)
    evals = {}
    for e in range(epochs + 1):
        flipped = (e >= change) & (e >= 1)
        corr = np.where(flipped, ~correct0, correct0)
        evals[e] = pd.DataFrame({
            "fact_id": facts["fact_id"],
            "epoch": e,
            "prediction": np.where(corr, term_id, "none"),
            "correct": corr.astype(int),
        })
    truth = {
        "hr_latent": hr_latent,
        "hr_latent_generalization": hr_latent_generalization,
        "hr_unseen_degradation": hr_unseen_degradation,
        "acquisition_rate": acquisition_rate,
        "epochs": epochs,
        "discrete_hazard_ratio": (1 - math.exp(-acquisition_rate * hr_latent)) / (1 - math.exp(-acquisition_rate)),
    }
    for name, sel in (("latent", acq & latent), ("not_latent", acq & ~latent)):
        if sel.any():  # expected newly acquired share per epoch: S(e−1)·(1 − exp(−λ_e)), λ of the group
            h = lam[np.flatnonzero(sel)[0]]
            surv = np.exp(-np.concatenate([[0.0], np.cumsum(h)[:-1]]))
            truth[f"peak_epoch_{name}"] = int(np.argmax(surv * (1 - np.exp(-h)))) + 1
    return SyntheticStudy(facts=facts, literature=lit, baseline=baseline, evals=evals, truth=truth)
