"""Benjamini–Hochberg q-values across the covariates × models × kinds of a run's Cox tables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from factsurv.tables import QVALUE_COLUMNS


def bh_qvalues(p: np.ndarray | pd.Series) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q): q_(i) = min_{j ≥ i} m·p_(j)/j, capped at 1.
    NaN p-values are left out of m and get NaN."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def qvalue_table(cox_by_kind: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per estimated (converged) Cox coefficient of every kind, with its BH q-value over
    all of them (the run's family of tests)."""
    parts = []
    for kind, cox in cox_by_kind.items():
        if cox.empty:
            continue
        ok = cox[(cox["converged"].astype(str) == "True") & pd.to_numeric(cox["p"], errors="coerce").notna()]
        parts.append(ok[["model", "covariate", "hr", "p"]].assign(kind=kind))
    if not parts:
        return pd.DataFrame(columns=list(QVALUE_COLUMNS))
    table = pd.concat(parts, ignore_index=True)
    table["q"] = bh_qvalues(table["p"].to_numpy(dtype=float))
    table["n_tests"] = len(table)
    return table[list(QVALUE_COLUMNS)]
