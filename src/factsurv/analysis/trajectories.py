"""Trajectories: one row per fact × epoch with correctness, split, ontology, probe and covariates."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pandas as pd

from factsurv.analysis.inputs import (
    NUMERIC_FACT_COLUMNS,
    load_baseline,
    load_evals,
    load_facts,
    load_literature,
)

log = logging.getLogger("factsurv")

LITERATURE_COVARIATES = ("identifier_frequency", "term_frequency")
COVARIATE_COLUMNS = ("namespace", *NUMERIC_FACT_COLUMNS, *LITERATURE_COVARIATES)
TRAJECTORY_COLUMNS = ("fact_id", "epoch", "correct", "split", "ontology", "latent", "p_correct", *COVARIATE_COLUMNS)


def build_trajectories(
    facts: pd.DataFrame, literature: pd.DataFrame, baseline: pd.DataFrame, evals: pd.DataFrame
) -> pd.DataFrame:
    """Join validated tables (see :mod:`factsurv.analysis.inputs`) into the trajectories table.

    Literature covariates that are entirely missing (no literature source) stay NA here; a warning
    is logged, and the Cox models drop them with a note.
    """
    per_fact = facts.merge(literature, on="fact_id", how="left").merge(
        baseline[["fact_id", "latent", "p_correct", "greedy_correct"]], on="fact_id", how="left"
    )
    for col in LITERATURE_COVARIATES:
        if per_fact[col].isna().all():
            log.warning("literature covariate %s is missing for every fact (no literature source?): "
                        "it stays NA and will be dropped from the models", col)
        elif per_fact[col].isna().any():
            log.warning("literature covariate %s is missing for %d of %d facts",
                        col, int(per_fact[col].isna().sum()), len(per_fact))
    e0 = evals.loc[evals["epoch"] == 0, ["fact_id", "correct"]].rename(columns={"correct": "correct0"})
    chk = per_fact.merge(e0, on="fact_id")
    disagree = int((chk["correct0"] != chk["greedy_correct"]).sum())
    if disagree:
        log.warning("%d facts: greedy correctness of eval epoch 0 differs from the probe's greedy_correct; "
                    "events use eval epoch 0, latent uses the probe", disagree)
    odd = int(((chk["correct0"] == 1) & (chk["latent"] == 1)).sum())
    if odd:
        log.warning("%d facts are latent in the probe but correct at eval epoch 0", odd)
    out = evals[["fact_id", "epoch", "correct"]].merge(per_fact, on="fact_id", how="left")
    out = out.sort_values(["fact_id", "epoch"], kind="stable").reset_index(drop=True)
    return out[list(TRAJECTORY_COLUMNS)]


def trajectories_from_files(
    facts_path: str | os.PathLike[str],
    literature_path: str | os.PathLike[str],
    baseline_path: str | os.PathLike[str],
    eval_paths: Sequence[str | os.PathLike[str]],
    epochs: int | None = None,
) -> pd.DataFrame:
    """Read and validate the input files, then :func:`build_trajectories`."""
    facts = load_facts(facts_path)
    fp = str(facts_path)
    literature = load_literature(literature_path, facts, fp)
    baseline = load_baseline(baseline_path, facts, fp)
    evals = load_evals(eval_paths, facts, fp, epochs=epochs)
    log.info("%d facts, epochs 0..%d", len(facts), int(evals["epoch"].max()))
    return build_trajectories(facts, literature, baseline, evals)
