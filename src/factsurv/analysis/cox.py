"""Cox proportional-hazards models with explicit convergence checks (lifelines ``CoxPHFitter``).

Missing covariate values (one rule for the Cox, discrete-time and joint models,
:func:`complete_cases`): a covariate with no value for any fact at risk is left out of the model (a
row ``dropped: no data``); otherwise the model is fitted on the facts at risk that have a value for
every one of its covariates (complete cases), and its transforms (log1p, z-score) are computed on
those facts. Each row's ``n_missing`` is the number of facts at risk that lack that covariate; the
model's rows carry a note with how many facts it left out and why, and the log a warning.

Convergence rules (one set, :func:`fit_cox`, for the per-run models and the joint models of
:mod:`factsurv.analysis.joint`; the discrete-time model applies the same checks on its estimates,
:func:`estimate_problems`). An attempt fails if lifelines raises an error, warns that it failed to
converge, that the log-likelihood is suspiciously close to 0 or that norm(delta) is still high, if
an estimate or a 95% bound is not finite, if a |coef| exceeds ``max_abs_coef``, or if a binary
design column has a level without events (complete separation: the maximum-likelihood HR is 0 or
∞). A failed attempt is retried with the smaller Newton steps of ``retry_step_sizes`` (not after a
separation: that is a property of the data). The first attempt that passes is kept, with the note
``kept fit: step_size=… (…; see the job log)`` when larger steps failed before it (the attempts go
to the log); its other lifelines warnings become notes. If every attempt fails, the model's rows
say ``converged=False`` with the reason and no estimates — never a number that looks like a result.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factsurv.tables import CATEGORICAL_COVARIATES, COX_COLUMNS

log = logging.getLogger("factsurv")


@dataclass
class CoxSettings:
    """Settings of :func:`cox_table` (the ``analysis.cox`` config block).

    No defaults here: they live in the config schema (``factsurv.config.section_defaults``).
    """

    covariates: Sequence[str]
    log1p: Sequence[str]
    standardize: Sequence[str]
    step_size: float | None
    retry_step_sizes: Sequence[float]
    penalizer: float
    max_abs_coef: float
    max_abs_correlation: float
    max_vif: float
    vif_action: str
    ph_alpha: float
    min_events_per_parameter: float
    low_epv: str
    low_epv_penalizer: float

    @classmethod
    def from_params(cls, cox: Mapping[str, Any]) -> "CoxSettings":
        """The whole ``analysis.cox`` block (the rule's ``params.cox``); a missing or unknown key
        raises :class:`factsurv.config.ConfigError`."""
        from factsurv.config import settings_from

        return settings_from(cls, cox, "analysis.cox")


@dataclass
class FitResult:
    """One fitted (or failed) model of :func:`fit_cox`."""

    converged: bool
    summary: pd.DataFrame | None  # index = design columns; coef, se, p, ...
    ph_p: dict[str, float] = field(default_factory=dict)
    ph_global_p: float = float("nan")
    problems: list[str] = field(default_factory=list)  # why it is not trusted; one entry per attempt when all failed
    notes: list[str] = field(default_factory=list)  # non-fatal warnings, the kept fit
    step_size: float | None = None
    fitter: Any = None  # the lifelines CoxPHFitter of the attempt returned (None when its fit raised)
    attempts: list[tuple[str, list[str]]] = field(default_factory=list)  # failed attempts: (step, problems)

    def reason(self) -> str:
        """Why a failed fit is not trusted, for a table's note: the problems of its last attempt
        and how many step sizes were tried ('' for a converged fit)."""
        if self.converged or not self.attempts:
            return ""
        label, last = self.attempts[-1]
        text = "; ".join(last)
        if len(self.attempts) > 1:
            text += f" (with {label}, the last of {len(self.attempts)} step sizes tried; see the job log)"
        return text


def _short(msg: str) -> str:
    return " ".join(str(msg).split())[:200]


def separation_problems(data: pd.DataFrame, columns: Sequence[str], event_col: str = "event") -> list[str]:
    """Binary design columns one of whose two values has no events (the MLE is then infinite)."""
    out = []
    events = data[event_col].astype(bool)
    if events.sum() == 0:
        return out
    for col in columns:
        levels = pd.unique(data[col])
        if len(levels) != 2:
            continue
        for lv in sorted(levels):
            sel = data[col] == lv
            if events[sel].sum() == 0:
                out.append(
                    f"complete separation: no events when {col}={lv:.4g} ({int(sel.sum())} at risk), "
                    f"all {int(events.sum())} events at the other value (the HR estimate would run to 0 or infinity)"
                )
    return out


def estimate_problems(
    names: Sequence[str], coef: Sequence[float], lower: Sequence[float], upper: Sequence[float], max_abs_coef: float
) -> list[str]:
    """The checks on a model's estimates (log HRs with their 95% bounds): non-finite values, and
    |coef| > ``max_abs_coef`` (divergence or separation, not a result). Empty when they pass."""
    b = np.asarray(coef, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    out = []
    bad = [str(n) for n, ok in zip(names, np.isfinite(b) & np.isfinite(lo) & np.isfinite(hi)) if not ok]
    if bad:
        out.append(f"non-finite estimate or confidence interval (diverged): {', '.join(bad)}")
    big = [f"{n}={v:.1f}" for n, v in zip(names, b) if np.isfinite(v) and abs(v) > max_abs_coef]
    if big:
        out.append(f"|coef| > {max_abs_coef:g} (HR beyond e^{max_abs_coef:g}): {', '.join(big)}")
    return out


def fit_cox(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    step_size: float | None = None,
    retry_step_sizes: Sequence[float] = (0.1, 0.02),
    penalizer: float = 0.0,
    max_abs_coef: float = 10.0,
    duration_col: str = "duration",
    event_col: str = "event",
    strata: Sequence[str] = (),
    cluster_col: str | None = None,
    ph_test: bool = True,
) -> FitResult:
    """Fit a Cox model of ``event``/``duration`` on ``columns`` of ``data`` under the convergence
    rules of the module docstring. ``strata``: columns that stratify the baseline hazard;
    ``cluster_col``: column of the clusters of cluster-robust standard errors; ``ph_test``: run the
    proportional-hazards tests on the kept fit."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    frame = data[[duration_col, event_col, *columns]].astype(float)
    for col in [*strata, *([cluster_col] if cluster_col else [])]:
        frame[col] = data[col]
    sep = separation_problems(frame, columns, event_col)
    attempts: list[float | None] = [step_size, *[s for s in retry_step_sizes if s != step_size]]
    failed: list[tuple[str, list[str]]] = []
    last: FitResult | None = None
    for step in attempts:
        label = "default step" if step is None else f"step_size={step:g}"
        problems: list[str] = []
        notes: list[str] = []
        summary = None
        cph: Any = CoxPHFitter(penalizer=penalizer, strata=list(strata) or None)
        opts = {} if step is None else {"step_size": float(step)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cph.fit(frame, duration_col=duration_col, event_col=event_col, cluster_col=cluster_col,
                        fit_options=opts)
                summary = cph.summary
            except Exception as exc:  # lifelines raises ConvergenceError, LinAlgError, ValueError…
                problems.append(f"fit failed: {type(exc).__name__}: {_short(exc)}")
                cph = None
        for w in caught:
            text = _short(w.message)
            if w.category.__name__ == "ConvergenceWarning":
                fatal = "failed to converge" in text or "suspiciously close to 0" in text or "still high" in text
                (problems if fatal else notes).append(f"lifelines: {text}")
        if summary is not None:
            problems += estimate_problems(summary.index, summary["coef"], summary["coef lower 95%"],
                                          summary["coef upper 95%"], max_abs_coef)
        problems += sep
        last = FitResult(converged=not problems, summary=summary, problems=problems, notes=notes, step_size=step,
                         fitter=cph)
        if not problems:
            if failed:
                history = "; ".join(f"{lb}: " + "; ".join(pr) for lb, pr in failed)
                log.info("Cox [%s]: kept the fit with %s after: %s", ", ".join(columns), label, history)
                last.notes.insert(0, f"kept fit: {label} (the larger steps failed the convergence checks; see the job log)")
            if ph_test and len(columns):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ph = proportional_hazard_test(cph, frame, time_transform="rank")
                        last.ph_global_p = global_ph_test(cph, frame)
                    last.ph_p = {str(k): float(v) for k, v in ph.summary["p"].items()}
                except Exception as exc:
                    last.notes.append(f"PH test failed: {type(exc).__name__}: {_short(exc)}")
            return last
        failed.append((label, problems))
        if sep:  # separation is a property of the data: smaller steps cannot help
            break
    assert last is not None
    last.problems = [f"{lb}: " + "; ".join(pr) for lb, pr in failed]
    last.attempts = failed
    return last


def global_ph_test(cph: Any, frame: pd.DataFrame) -> float:
    """Grambsch–Therneau global test of proportional hazards (rank time transform), the joint
    version of lifelines' per-covariate ``proportional_hazard_test``:
    T = (Σ g·r*)ᵀ V⁻¹ (Σ g·r*) / (d Σ g²) ~ χ²(p), with r* the scaled Schoenfeld residuals, g the
    centred ranks of the event times, V the variance matrix and d the number of events. With one
    covariate it equals the per-covariate test.
    """
    from lifelines.statistics import TimeTransformers
    from scipy import stats

    events, durations, weights = cph.event_observed, cph.durations, cph.weights
    d = float(events.sum())
    resid = cph.compute_residuals(frame, kind="scaled_schoenfeld")
    times = TimeTransformers().get("rank")(durations, events, weights)[events.values]
    g = (times - times.mean()).to_numpy(dtype=float)
    u = (g[:, None] * resid.to_numpy(dtype=float)).sum(0)
    v = cph.variance_matrix_.to_numpy(dtype=float)
    stat = float(u @ np.linalg.solve(v, u) / (d * float((g ** 2).sum())))
    return float(stats.chi2.sf(stat, len(u)))


def variance_inflation(design: Mapping[str, pd.Series]) -> dict[str, float]:
    """VIF of each column: the diagonal of the inverse correlation matrix (1/(1 − R²) of the column
    regressed on the others); ∞ when the columns are linearly dependent. One column: VIF 1."""
    names = list(design)
    if len(names) < 2:
        return {n: 1.0 for n in names}
    x = np.column_stack([pd.to_numeric(design[n], errors="coerce").to_numpy(dtype=float) for n in names])
    corr = np.corrcoef(x, rowvar=False)
    try:
        inv = np.linalg.inv(corr)
        vif = np.diag(inv)
        if np.linalg.cond(corr) > 1e12:
            raise np.linalg.LinAlgError("singular")
    except np.linalg.LinAlgError:
        return {n: float("inf") for n in names}
    return {n: float(v) for n, v in zip(names, vif)}


def prepare_covariate(values: pd.Series, name: str, log1p: Sequence[str], standardize: Sequence[str]) -> tuple[pd.Series, str]:
    """Apply the configured transforms (log1p first, then z-score on the given rows)."""
    x = values.astype(float)
    steps = []
    if name in log1p:
        if (x.dropna() < 0).any():
            raise ValueError(f"covariate {name}: log1p of negative values")
        x = np.log1p(x)
        steps.append("log1p")
    if name in standardize:
        sd = x.std(ddof=1)
        if sd > 0 and np.isfinite(sd):
            x = (x - x.mean()) / sd
            steps.append(f"z(sd={sd:.3g})")
    return x, "+".join(steps) or "none"


def design_columns(events: pd.DataFrame, covariate: str) -> dict[str, pd.Series]:
    """Design columns of one covariate: itself if numeric, else indicators against the largest level.

    ``ontology`` with levels hpo (largest) and go gives ``{"ontology[go]": …}``.
    """
    col = events[covariate]
    if covariate in CATEGORICAL_COVARIATES or not pd.api.types.is_numeric_dtype(col):
        counts = col.value_counts()
        ref = sorted(counts[counts == counts.max()].index)[0] if len(counts) else None
        return {f"{covariate}[{lv}]": (col == lv).astype(float).where(col.notna())
                for lv in sorted(counts.index) if lv != ref}
    return {covariate: col.astype(float)}


def collinear_columns(design: Mapping[str, pd.Series], threshold: float) -> list[tuple[str, str, float]]:
    """Columns to drop, in order: each correlates beyond ``threshold`` (in absolute value) with a
    column listed before it that is kept. Returns (dropped, kept partner, r)."""
    names = list(design)
    if len(names) < 2:
        return []
    corr = pd.DataFrame({k: pd.to_numeric(v, errors="coerce").to_numpy(dtype=float) for k, v in design.items()}).corr()
    kept: list[str] = []
    out: list[tuple[str, str, float]] = []
    for name in names:
        partner = next((k for k in kept if abs(corr.loc[name, k]) > threshold), None)
        if partner is None:
            kept.append(name)
        else:
            out.append((name, partner, float(corr.loc[name, partner])))
    return out


def _row(model: str, covariate: str, n: int, n_events: int, **kw: Any) -> dict[str, Any]:
    base = {c: np.nan for c in COX_COLUMNS}
    base.update(model=model, covariate=covariate, n=n, n_events=n_events, converged=pd.NA, warning="", transform="",
                ph_flag=pd.NA, n_missing=0)
    base.update(kw)
    return base


@dataclass
class CompleteCases:
    """The facts a model is fitted on under the missing-value rule (see the module docstring)."""

    data: pd.DataFrame  # the facts at risk with a value for every usable covariate
    usable: list[str]  # the covariates that enter (have a value for at least one fact at risk)
    no_data: list[str]  # the covariates left out: no value for any fact at risk
    missing: dict[str, int]  # covariate → facts at risk without a value (every covariate asked for)
    n_all: int  # facts at risk

    @property
    def n_left_out(self) -> int:
        return self.n_all - len(self.data)

    def note(self) -> str:
        """'12 of 36 facts at risk left out for missing values (identifier_frequency 12; complete
        cases)', or '' when none was."""
        if not self.n_left_out:
            return ""
        per = ", ".join(f"{c} {k}" for c, k in self.missing.items() if k and c in self.usable)
        return f"{self.n_left_out} of {self.n_all} facts at risk left out for missing values ({per}; complete cases)"


def complete_cases(events: pd.DataFrame, covariates: Sequence[str]) -> CompleteCases:
    """The missing-value rule of every survival model of factsurv (Cox, discrete-time, joint):
    covariates absent from ``events`` or without any value are left out; the facts with a value for
    each of the others are kept."""
    missing: dict[str, int] = {}
    usable: list[str] = []
    no_data: list[str] = []
    for cov in covariates:
        if cov not in events.columns:
            missing[cov] = len(events)
            no_data.append(cov)
            continue
        missing[cov] = int(events[cov].isna().sum())
        (no_data if missing[cov] == len(events) else usable).append(cov)
    data = events.dropna(subset=usable) if usable else events
    return CompleteCases(data=data, usable=usable, no_data=no_data, missing=missing, n_all=len(events))


def source_covariate(column: str) -> str:
    """The covariate a design column comes from (``ontology[go]`` → ``ontology``, ``depth×log(epoch)``
    → ``depth``)."""
    return column.split("[", 1)[0].split("×", 1)[0]


@dataclass
class Design:
    """The design of one model: complete-case data, transformed columns, and rows for what was dropped."""

    model: str
    data: pd.DataFrame  # the facts at risk with complete covariates
    columns: dict[str, pd.Series]  # design column → values (transformed)
    transforms: dict[str, str]
    rows: list[dict[str, Any]]  # rows of dropped covariates / columns
    notes: list[str]  # apply to every fitted row of the model
    vif: dict[str, float]
    epv: float
    penalizer: float
    missing: dict[str, int] = field(default_factory=dict)  # covariate → facts at risk without a value

    def n_missing(self, column: str) -> int:
        """Facts at risk without a value of the covariate of design column ``column``."""
        return int(self.missing.get(source_covariate(column), 0))

    @property
    def n(self) -> int:
        return len(self.data)

    @property
    def n_events(self) -> int:
        return int(self.data["event"].sum()) if len(self.data) else 0

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame({k: v.to_numpy(dtype=float) for k, v in self.columns.items()})
        out["duration"] = self.data["duration"].to_numpy(dtype=float)
        out["event"] = self.data["event"].to_numpy(dtype=float)
        return out


def build_design(model: str, events: pd.DataFrame, covariates: Sequence[str], settings: CoxSettings) -> Design:
    """Complete cases; drop covariates without data or variation, collinear pairs (|r|), and — with
    ``vif_action: drop`` — columns of VIF > ``max_vif``; then the events-per-parameter rule
    (``low_epv``: warn, penalize or reduce), each with a note."""
    rows: list[dict[str, Any]] = []
    cases = complete_cases(events, covariates)
    n_all, usable, data = cases.n_all, cases.usable, cases.data
    for cov in cases.no_data:
        why = "not in the events table" if cov not in events.columns else "no data (all NA; e.g. no literature source)"
        rows.append(_row(model, cov, n_all, int(events["event"].sum()), warning=f"dropped: {why}", n_missing=n_all))
    n, n_events = len(data), int(data["event"].sum()) if len(data) else 0
    design: dict[str, pd.Series] = {}
    transforms: dict[str, str] = {}
    for cov in usable:
        cols = design_columns(data, cov)
        if not cols:
            levels = sorted(map(str, pd.unique(data[cov].dropna())))
            rows.append(_row(model, cov, n, n_events, warning=f"dropped: no variation (one level: {', '.join(levels)})"))
        for name, x in cols.items():
            if x.nunique(dropna=True) < 2:
                rows.append(_row(model, name, n, n_events, warning=f"dropped: no variation ({name} = {x.iloc[0] if len(x) else 'NA'} for all {n} facts)"))
                continue
            x, tr = prepare_covariate(x, cov, settings.log1p, settings.standardize)
            design[name], transforms[name] = x, tr
    for name, partner, r in collinear_columns(design, settings.max_abs_correlation):
        del design[name]
        msg = f"dropped: collinear with {partner} (r = {r:.3f}; |r| > {settings.max_abs_correlation:g})"
        log.warning("%s / %s: %s", model, name, msg)
        rows.append(_row(model, name, n, n_events, warning=msg, transform=transforms[name]))
    vif = variance_inflation(design)
    if settings.vif_action == "drop":
        while len(design) > 1 and max(vif.values()) > settings.max_vif:
            worst = max(vif, key=lambda k: (vif[k], k))
            msg = f"dropped: VIF = {vif[worst]:.3g} > {settings.max_vif:g} (collinear with the other covariates)"
            log.warning("%s / %s: %s", model, worst, msg)
            rows.append(_row(model, worst, n, n_events, warning=msg, transform=transforms[worst], vif=vif[worst]))
            del design[worst]
            vif = variance_inflation(design)
    notes: list[str] = []
    if cases.n_left_out:
        notes.append(cases.note())
        log.warning("%s [%s]: %s", model, ", ".join(usable), notes[-1])
    penalizer = float(settings.penalizer)
    floor = float(settings.min_events_per_parameter)
    epv = n_events / len(design) if design else float("nan")
    if design and epv < floor:
        low = f"EPV = {epv:.3g} < {floor:g} events per parameter"
        if settings.low_epv == "reduce" and len(design) > 1:
            keep = max(1, int(n_events // floor)) if floor > 0 else len(design)
            for name in list(design)[keep:]:
                msg = f"dropped: {low} (low_epv: reduce keeps the first {keep} of the configured covariates)"
                rows.append(_row(model, name, n, n_events, warning=msg, transform=transforms[name]))
                del design[name]
            epv = n_events / len(design)
            vif = variance_inflation(design)
            notes.append(f"reduced to {len(design)} parameter(s) for {low}" + (
                f"; still EPV = {epv:.3g}" if epv < floor else ""))
        elif settings.low_epv == "penalize":
            penalizer = max(penalizer, float(settings.low_epv_penalizer))
            notes.append(f"{low}: penalized fit (L2 penalizer {penalizer:g})")
        else:
            notes.append(f"WARNING {low}: estimates unstable")
        log.warning("%s [%s]: %s", model, ", ".join(design), notes[-1])
    if penalizer > 0:
        notes.append(f"penalizer={penalizer:g}")
    for r in rows:
        r["n_missing"] = max(int(r.get("n_missing") or 0), int(cases.missing.get(source_covariate(r["covariate"]), 0)))
    return Design(model=model, data=data, columns=design, transforms={k: transforms[k] for k in design},
                  rows=rows, notes=notes, vif=vif, epv=epv, penalizer=penalizer, missing=cases.missing)


def _fit_rows(
    model: str, events: pd.DataFrame, covariates: Sequence[str], settings: CoxSettings, problems_log: list[str]
) -> list[dict[str, Any]]:
    """Rows of one model: the design (:func:`build_design`), then the fit with its diagnostics."""
    d = build_design(model, events, covariates, settings)
    rows = list(d.rows)
    names = list(d.columns)
    if not names:
        return rows
    n, n_events = d.n, d.n_events
    common = {"epv": d.epv, "penalizer": d.penalizer}
    if n_events == 0:
        for name in names:
            rows.append(_row(model, name, n, 0, converged=False, warning="; ".join(["not fitted: no events", *d.notes]),
                             transform=d.transforms[name], n_missing=d.n_missing(name), **common))
        return rows
    res = fit_cox(d.frame(), names, step_size=settings.step_size, retry_step_sizes=settings.retry_step_sizes,
                  penalizer=d.penalizer, max_abs_coef=settings.max_abs_coef)
    if not res.converged:
        msg = f"{model} [{', '.join(names)}]: NOT CONVERGED: " + " | ".join(res.problems)
        log.warning("%s", msg)
        problems_log.append(msg)
        for name in names:
            rows.append(_row(model, name, n, n_events, converged=False,
                             warning="; ".join(["not converged: " + " | ".join(res.problems), *d.notes]),
                             transform=d.transforms[name], n_missing=d.n_missing(name), **common))
        return rows
    if res.notes:
        log.warning("%s [%s]: %s", model, ", ".join(names), " | ".join(res.notes))
    s = res.summary
    alpha = float(settings.ph_alpha)
    for name in names:
        ph = res.ph_p.get(name, np.nan)
        extra = []
        if len(names) > 1 and d.vif.get(name, 1.0) > settings.max_vif:
            extra.append(f"VIF = {d.vif[name]:.3g} > {settings.max_vif:g}")
        if ph < alpha:
            extra.append(f"PH violated (Schoenfeld p = {ph:.2g} < {alpha:g})")
        elif res.ph_global_p < alpha:
            extra.append(f"PH violated globally (p = {res.ph_global_p:.2g} < {alpha:g})")
        rows.append(_row(
            model, name, n, n_events,
            coef=float(s.loc[name, "coef"]), hr=float(s.loc[name, "exp(coef)"]),
            hr_lower_95=float(s.loc[name, "exp(coef) lower 95%"]), hr_upper_95=float(s.loc[name, "exp(coef) upper 95%"]),
            p=float(s.loc[name, "p"]), ph_test_p=ph, converged=True,
            warning="; ".join([*extra, *res.notes, *d.notes]), transform=d.transforms[name],
            ph_global_p=res.ph_global_p, ph_flag=bool(ph < alpha),
            vif=d.vif.get(name, np.nan) if len(names) > 1 else np.nan, n_missing=d.n_missing(name), **common,
        ))
    return rows


def cox_table(
    events: pd.DataFrame,
    settings: CoxSettings,
    *,
    extra_covariates: Sequence[str] = (),
    subsets: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Univariable models of each covariate, the multivariable model, and multivariable models on
    ontology subsets (``{"hpo_only": ["hpo"]}``). Returns the table and the list of problems logged.
    """
    problems: list[str] = []
    covs = [*settings.covariates, *[c for c in extra_covariates if c not in settings.covariates]]
    rows: list[dict[str, Any]] = []
    if events.empty:
        msg = "no facts at risk: no model fitted"
        log.warning("%s", msg)
        problems.append(msg)
        rows.append(_row("multivariable", "", 0, 0, converged=False, warning=msg))
        return pd.DataFrame(rows, columns=list(COX_COLUMNS)), problems
    for cov in covs:
        rows += _fit_rows("univariable", events, [cov], settings, problems)
    rows += _fit_rows("multivariable", events, covs, settings, problems)
    for name, ontos in (subsets or {}).items():
        sub = events[events["ontology"].isin(list(ontos))]
        model = f"multivariable:{name}"
        if sub.empty:
            msg = f"{model}: no facts of ontologies {list(ontos)} at risk; model skipped"
            log.warning("%s", msg)
            rows.append(_row(model, "", 0, 0, converged=False, warning=msg))
            continue
        rows += _fit_rows(model, sub, covs, settings, problems)
    table = pd.DataFrame(rows, columns=list(COX_COLUMNS))
    for r in table.itertuples():
        if isinstance(r.warning, str) and r.warning.startswith("dropped"):
            log.warning("%s %s: %s", r.model, r.covariate, r.warning)
    return table, problems
