"""Trajectories: one row per fact × epoch with correctness, split, ontology, probe and covariates.

With the run's training plan, ``split`` is the per-run split (train, statement_only, heldout: see
:func:`factsurv.designs.run_facts`) and ``seen``, ``exposures``, ``first_exposure_epoch`` and
``exposures_so_far`` come from the plan; without one, ``seen`` is ``split == train`` and the
exposure columns are NA.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pandas as pd

from factsurv.analysis.inputs import (
    load_baseline,
    load_evals,
    load_facts,
    load_literature,
)
from factsurv.io import InputError
from factsurv.tables import EXPOSURE_ASSIGNMENT_COLUMNS, EXPOSURE_SO_FAR, LITERATURE_COVARIATES, PRIOR_EXPOSURE, \
    TRAJECTORY_COLUMNS

log = logging.getLogger("factsurv")


def build_trajectories(
    facts: pd.DataFrame, literature: pd.DataFrame, baseline: pd.DataFrame, evals: pd.DataFrame,
    plan: pd.DataFrame | None = None, exposure: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Join validated tables (see :mod:`factsurv.analysis.inputs`) into the trajectories table.

    ``exposure``: the model's exposure assignment (fact_id, dose), whose dose becomes ``prior_exposure``
    (NA without one).

    Literature covariates that are entirely missing (no literature source) stay NA here; a warning
    is logged, and the Cox models drop them with a note.
    """
    per_fact = facts.merge(literature, on="fact_id", how="left").merge(
        baseline[["fact_id", "latent", "p_correct", "greedy_correct"]], on="fact_id", how="left"
    )
    if exposure is None:
        per_fact[PRIOR_EXPOSURE] = pd.NA
    else:
        doses = exposure.set_index("fact_id")["dose"]
        per_fact[PRIOR_EXPOSURE] = per_fact["fact_id"].map(doses).astype("Int64")
        log.info("prior exposure (randomized dose) per fact: %s",
                 per_fact[PRIOR_EXPOSURE].value_counts().sort_index().to_dict())
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
    if plan is None:
        per_fact["seen"] = (per_fact["split"] == "train").astype(int)
        for col in ("exposures", "first_exposure_epoch"):
            per_fact[col] = pd.NA
    else:
        from factsurv.designs import run_facts

        runf = run_facts(facts, plan, epochs=int(evals["epoch"].max()))
        per_fact = per_fact.drop(columns=["split"]).merge(runf, on="fact_id", how="left")
        log.info("per-run split from the plan: %s", per_fact["split"].value_counts().to_dict())
    out = evals[["fact_id", "epoch", "correct"]].merge(per_fact, on="fact_id", how="left")
    out = out.sort_values(["fact_id", "epoch"], kind="stable").reset_index(drop=True)
    if plan is None:
        out[EXPOSURE_SO_FAR] = pd.NA
    else:
        from factsurv.designs import exposures_so_far

        out[EXPOSURE_SO_FAR] = exposures_so_far(plan, out["fact_id"], out["epoch"])
    return out[list(TRAJECTORY_COLUMNS)]


def trajectories_from_files(
    facts_path: str | os.PathLike[str],
    literature_path: str | os.PathLike[str],
    baseline_path: str | os.PathLike[str],
    eval_paths: Sequence[str | os.PathLike[str]],
    epochs: int | None = None,
    plan_path: str | os.PathLike[str] | None = None,
    exposure_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read and validate the input files (the run's training plan and its model's exposure
    assignment too, when given), then :func:`build_trajectories`."""
    facts = load_facts(facts_path)
    fp = str(facts_path)
    literature = load_literature(literature_path, facts, fp)
    baseline = load_baseline(baseline_path, facts, fp)
    evals = load_evals(eval_paths, facts, fp, epochs=epochs)
    log.info("%d facts, epochs 0..%d", len(facts), int(evals["epoch"].max()))
    plan = None
    if plan_path is not None:
        from factsurv.designs import read_plan

        plan = read_plan(plan_path)
        unknown = sorted(set(plan["fact_id"]) - set(facts["fact_id"]))
        if unknown:
            raise InputError(f"{plan_path}: {len(unknown)} fact_id(s) not in {fp}, e.g. {unknown[0]!r}")
    exposure = None
    if exposure_path is not None:
        exposure = load_exposure(exposure_path, facts, fp)
    return build_trajectories(facts, literature, baseline, evals, plan, exposure)


def load_exposure(path: str | os.PathLike[str], facts: pd.DataFrame, facts_path: str) -> pd.DataFrame:
    """The exposure assignment: every fact of facts.tsv once, with a whole dose ≥ 0."""
    from factsurv.io import read_tsv

    table = read_tsv(path, EXPOSURE_ASSIGNMENT_COLUMNS[:5], dtype={"fact_id": str, "term_id": str})
    missing = sorted(set(facts["fact_id"]) - set(table["fact_id"]))
    if missing:
        raise InputError(f"{path}: no dose for {len(missing)} fact(s) of {facts_path}, e.g. {missing[0]!r} "
                         "(the assignment was made for another facts.tsv)")
    dose = pd.to_numeric(table["dose"], errors="coerce")
    bad = dose.isna() | (dose < 0) | (dose != dose.round())
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"{path}: line {pos + 2}: column 'dose' must be a whole number >= 0, "
                         f"got {table['dose'].iloc[pos]!r}")
    return table.assign(dose=dose.astype(int)).drop_duplicates("fact_id")
