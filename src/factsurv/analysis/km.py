"""Kaplan–Meier curves (as cumulative incidence 1 − S) and log-rank tests by group."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from factsurv.tables import KM_COLUMNS, LOGRANK_COLUMNS

log = logging.getLogger("factsurv")


def group_label(var: str, value: object) -> str:
    """Readable group name: ``latent=1`` → "latent", ``seen=0`` → "unseen", else ``var=value``."""
    try:
        v = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"{var}={value}"
    names = {"latent": ("not latent", "latent"), "seen": ("unseen (withheld)", "seen (trained)")}
    if var in names and v in (0, 1):
        return names[var][v]
    return f"{var}={v}"


def km_curve(durations: np.ndarray, events: np.ndarray, last_epoch: int) -> pd.DataFrame:
    """KM estimate at every epoch 0..last_epoch with counts: at risk (duration ≥ e), events, censored at e."""
    from lifelines import KaplanMeierFitter

    epochs = np.arange(0, last_epoch + 1)
    d = np.asarray(durations, dtype=float)
    ev = np.asarray(events, dtype=int)
    kmf = KaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit(d, ev, timeline=epochs)
    s = kmf.survival_function_.iloc[:, 0].to_numpy()
    ci = kmf.confidence_interval_survival_function_
    lo, hi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    return pd.DataFrame({
        "epoch": epochs,
        "n_at_risk": [(d >= e).sum() for e in epochs],
        "n_events": [((d == e) & (ev == 1)).sum() for e in epochs],
        "n_censored": [((d == e) & (ev == 0)).sum() for e in epochs],
        "survival": s, "survival_lower_95": lo, "survival_upper_95": hi,
        "cumulative": 1 - s, "cumulative_lower_95": 1 - hi, "cumulative_upper_95": 1 - lo,
    })


def km_tables(events: pd.DataFrame, group_vars: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KM curves per level of each grouping column, plus "all"; log-rank test across levels."""
    from lifelines.statistics import multivariate_logrank_test

    curves: list[pd.DataFrame] = []
    tests: list[dict[str, object]] = []
    if events.empty:
        log.warning("no facts at risk: empty KM and log-rank tables")
        return pd.DataFrame(columns=list(KM_COLUMNS)), pd.DataFrame(columns=list(LOGRANK_COLUMNS))
    last = int(events["duration"].max())
    whole = km_curve(events["duration"], events["event"], last)
    curves.append(whole.assign(group_var="all", group="all"))
    for var in group_vars:
        if var not in events.columns:
            raise KeyError(f"grouping column {var!r} is not in the events table")
        data = events.dropna(subset=[var])
        levels = sorted(pd.unique(data[var]))
        for lv in levels:
            sub = data[data[var] == lv]
            curves.append(km_curve(sub["duration"], sub["event"], last).assign(group_var=var, group=group_label(var, lv)))
        n = [int((data[var] == lv).sum()) for lv in levels]
        ne = [int(data.loc[data[var] == lv, "event"].sum()) for lv in levels]
        row: dict[str, object] = {
            "group_var": var, "groups": " vs ".join(group_label(var, lv) for lv in levels),
            "n": ";".join(map(str, n)), "n_events": ";".join(map(str, ne)),
            "test_statistic": np.nan, "df": np.nan, "p": np.nan, "note": "",
        }
        if len(levels) < 2:
            row["note"] = f"only one group ({row['groups'] or 'none'}): no test"
            log.warning("log-rank by %s: %s", var, row["note"])
        elif sum(ne) == 0:
            row["note"] = "no events: no test"
            log.warning("log-rank by %s: no events", var)
        else:
            res = multivariate_logrank_test(data["duration"], data[var], data["event"])
            row.update(test_statistic=float(res.test_statistic), df=int(res.degrees_of_freedom), p=float(res.p_value))
        tests.append(row)
    km = pd.concat(curves, ignore_index=True)[list(KM_COLUMNS)]
    return km, pd.DataFrame(tests, columns=list(LOGRANK_COLUMNS))
