"""The run's headline numbers (the paper's), as one tidy table ``metric, group, value, …``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factsurv.tables import SUMMARY_COLUMNS

DEMO_NOTE = ("results from the small demo model that the workflow built and pretrained itself on a "
             "synthetic corpus, not from Llama-3.1-8B-Instruct")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float, float]:
    """Share k/n with its Wilson 95% interval (NaN when n = 0)."""
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def _row(metric: str, group: str, value: float, lo: float = np.nan, hi: float = np.nan, p: float = np.nan, note: str = "",
         q: float = np.nan, ph_p: float = np.nan, flag: str = "") -> dict[str, Any]:
    return {"metric": metric, "group": group, "value": value, "lower_95": lo, "upper_95": hi, "p": p, "note": note,
            "q": q, "ph_p": ph_p, "flag": flag}


def _ok(r: Any) -> bool:
    return r.converged is True or str(r.converged) == "True"


def _flags(r: Any, min_epv: float, max_vif: float) -> str:
    """Short flags of a Cox row: PH (its Schoenfeld test, or the model's global one, flagged),
    EPV below the floor, VIF above the limit."""
    out = []
    if str(getattr(r, "ph_flag", "")) == "True":
        out.append("PH violated")
    elif "PH violated globally" in str(getattr(r, "warning", "")):
        out.append("PH violated (global test)")
    epv = float(getattr(r, "epv", np.nan))
    if np.isfinite(epv) and epv < min_epv:
        out.append(f"EPV {epv:.3g} < {min_epv:g}")
    vif = float(getattr(r, "vif", np.nan))
    if np.isfinite(vif) and vif > max_vif:
        out.append(f"VIF {vif:.3g} > {max_vif:g}")
    return "; ".join(out)


#: parts of a Cox row's warning that the summary's ``flag`` column already says
_FLAGGED = ("PH violated", "VIF =", "VIF ")


def reader_note(warning: Any) -> str:
    """The parts of a Cox row's ``warning`` a reader of the summary needs (the kept fit,
    dropped facts, penalization): those the ``flag`` column repeats are left out."""
    if not isinstance(warning, str) or not warning:
        return ""
    return "; ".join(part for part in warning.split("; ") if part and not part.startswith(_FLAGGED))


def _hr_rows(metric: str, cox: pd.DataFrame, covariate: str, kind: str, qvalues: pd.DataFrame | None,
             min_epv: float, max_vif: float) -> list[dict[str, Any]]:
    rows = []
    q = {} if qvalues is None or qvalues.empty else {
        (r.kind, r.model, r.covariate): float(r.q) for r in qvalues.itertuples()}
    for r in cox[cox["covariate"] == covariate].itertuples():
        ok = _ok(r)
        rows.append(_row(metric, str(r.model), float(r.hr) if ok else np.nan,
                         float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                         float(r.p) if ok else np.nan,
                         note="; ".join(filter(None, [f"n={r.n}, events={r.n_events}", reader_note(r.warning)])),
                         q=q.get((kind, str(r.model), covariate), np.nan),
                         ph_p=float(getattr(r, "ph_test_p", np.nan)) if ok else np.nan,
                         flag=_flags(r, min_epv, max_vif) if ok else "not converged"))
    return rows


def _share_rows(metric: str, group: str, hits: pd.Series, note: str = "") -> dict[str, Any]:
    k, n = int(hits.sum()), int(len(hits))
    v, lo, hi = wilson(k, n)
    return _row(metric, group, v, lo, hi, note=f"{k}/{n}" + (f"; {note}" if note else ""))


def _f(r: Any, name: str) -> float:
    v = getattr(r, name, np.nan)
    return np.nan if v is None or pd.isna(v) else float(v)


def _definition_rows(trajectories: pd.DataFrame, kind: str, spec: Mapping[str, Any], ms: Sequence[int],
                     cox_settings: Any) -> list[dict[str, Any]]:
    """Share of facts at risk with the event under each stable_epochs m, and correct at the final
    epoch; plus the univariable HR of latent under each m: how much flicker moves the numbers."""
    from factsurv.analysis.cox import cox_table
    from factsurv.analysis.events import build_events

    rows: list[dict[str, Any]] = []
    last = int(trajectories["epoch"].max())
    onts = spec.get("ontologies")
    for m in ms:
        if m > last:
            rows.append(_row(f"{kind}_share_by_definition", f"m={m}", np.nan, note=f"run has only {last} epochs"))
            continue
        ev = build_events(trajectories, kind, splits=spec["splits"], ontologies=onts, m=int(m))
        for onto, g in [("all", ev), *sorted(ev.groupby("ontology"), key=lambda t: str(t[0]))]:
            rows.append(_share_rows(f"{kind}_share_by_definition", f"{onto}/m={m}", g["event"] == 1,
                                    f"event = correct for {m} consecutive epoch(s)"))
        if cox_settings is not None and not ev.empty and "latent" in ev.columns:
            from dataclasses import replace
            tab, _ = cox_table(ev, replace(cox_settings, covariates=["latent"]))
            for r in tab[(tab["model"] == "univariable") & (tab["covariate"] == "latent")].itertuples():
                ok = _ok(r)
                rows.append(_row(f"hr_latent_{kind}_by_definition", f"m={m}", float(r.hr) if ok else np.nan,
                                 float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                                 float(r.p) if ok else np.nan, note=f"univariable Cox; n={r.n}, events={r.n_events}",
                                 ph_p=float(r.ph_test_p) if ok else np.nan, flag="" if ok else "not converged"))
    final = build_events(trajectories, kind, splits=spec["splits"], ontologies=onts, m=1)
    state = trajectories.loc[trajectories["epoch"] == last, ["fact_id", "correct"]].set_index("fact_id")["correct"]
    final["final_correct"] = final["fact_id"].map(state).to_numpy()
    for onto, g in [("all", final), *sorted(final.groupby("ontology"), key=lambda t: str(t[0]))]:
        rows.append(_share_rows(f"{kind}_share_by_definition", f"{onto}/final epoch", g["final_correct"] == 1,
                                f"correct at epoch {last} (the final-epoch state)"))
    return rows


def summary_table(
    trajectories: pd.DataFrame,
    events: Mapping[str, pd.DataFrame],
    cox_acquisition: pd.DataFrame,
    logrank: Mapping[str, pd.DataFrame],
    dynamics: pd.DataFrame,
    *,
    demo: bool = False,
    cox: Mapping[str, pd.DataFrame] | None = None,
    qvalues: pd.DataFrame | None = None,
    cloglog: pd.DataFrame | None = None,
    selection: Mapping[str, Mapping[str, Any]] | None = None,
    compare_stable_epochs: Sequence[int] = (),
    cox_settings: Any = None,
    epoch_sets: pd.DataFrame | None = None,
    control: pd.DataFrame | None = None,
    forgetting: pd.DataFrame | None = None,
    forgetting_curves: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Baseline and final greedy recall per ontology/split, latent share, HR of latent for
    acquisition (every model that has it), generalization and degradation shares, log-rank p,
    peak and convergence epochs. Shares carry Wilson 95% intervals.

    With ``cox`` (all kinds), ``qvalues``, ``cloglog`` (acquisition): BH q-values, PH test p and
    flags (PH, EPV, VIF) on the HR rows, the cloglog HR beside Cox's, the HR of seen for
    degradation. With ``selection`` (kind → splits/ontologies) and ``compare_stable_epochs``: event
    shares (and the univariable latent HR, with ``cox_settings``) under each m and at the final epoch.
    With ``epoch_sets``, ``control``, ``forgetting`` (+ ``forgetting_curves``): the rows of
    :func:`retention_rows`.
    """
    min_epv = float(getattr(cox_settings, "min_events_per_parameter", 0) or 0)
    max_vif = float(getattr(cox_settings, "max_vif", np.inf) or np.inf)
    rows: list[dict[str, Any]] = []
    if demo:
        rows.append(_row("model", "all", np.nan, note=DEMO_NOTE))
    last = int(trajectories["epoch"].max())
    rows.append(_row("epochs", "all", float(last)))
    for (onto, split), g in trajectories.groupby(["ontology", "split"], sort=True):
        grp = f"{onto}/{split}"
        rows.append(_share_rows("baseline_greedy_recall", grp, g.loc[g["epoch"] == 0, "correct"], "epoch 0"))
        rows.append(_share_rows("final_recall", grp, g.loc[g["epoch"] == last, "correct"], f"epoch {last}"))
        base = g[g["epoch"] == 0]
        rows.append(_share_rows("latent_share", grp, base["latent"] == 1, "of all facts"))
        rows.append(_share_rows("latent_share_of_wrong", grp, base.loc[base["correct"] == 0, "latent"] == 1,
                                "of facts wrong under greedy decoding at epoch 0"))
    cx = cox_acquisition[cox_acquisition["covariate"] == "latent"]
    rows += _hr_rows("hr_latent_acquisition", cox_acquisition, "latent", "acquisition", qvalues, min_epv, max_vif)
    if "latent" not in set(cx["covariate"]):
        rows.append(_row("hr_latent_acquisition", "multivariable", np.nan, note="latent not in the Cox models"))
    if cloglog is not None and not cloglog.empty:
        for r in cloglog[cloglog["covariate"] == "latent"].itertuples():
            ok = _ok(r)
            rows.append(_row("hr_latent_acquisition_cloglog", str(r.model), float(r.hr) if ok else np.nan,
                             float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                             float(r.p) if ok else np.nan,
                             note="discrete-time cloglog, cluster-robust SE; " + (f"Cox HR {r.cox_hr:.3g}" if np.isfinite(r.cox_hr) else "no Cox HR")
                             + (f"; {r.warning}" if isinstance(r.warning, str) and r.warning else ""),
                             flag="" if ok else "not converged"))
    cox_deg = (cox or {}).get("degradation")
    if cox_deg is not None and not cox_deg.empty:
        rows += _hr_rows("hr_seen_degradation", cox_deg, "seen", "degradation", qvalues, min_epv, max_vif)
    gen = events.get("generalization")
    if gen is not None and not gen.empty:
        for onto, g in gen.groupby("ontology", sort=True):
            rows.append(_share_rows("generalization_share", str(onto), g["event"] == 1, "withheld facts wrong at epoch 0"))
            for lv, gl in g.groupby("latent"):
                rows.append(_share_rows("generalization_share", f"{onto}/{'latent' if lv == 1 else 'not latent'}", gl["event"] == 1))
    else:
        rows.append(_row("generalization_share", "all", np.nan, note="no withheld facts at risk"))
    deg = events.get("degradation")
    if deg is not None and not deg.empty:
        # the headline is per ontology (GO: the paper's claim); pooled over ontologies only when every
        # ontology has both seen and unseen facts (otherwise `seen` would partly mean the ontology)
        for (onto, seen), g in deg.groupby(["ontology", "seen"], sort=True):
            rows.append(_share_rows("degradation_share", f"{onto}/{'seen' if seen == 1 else 'unseen'}", g["event"] == 1,
                                    "facts correct at epoch 0" + ("; headline" if onto == "go" else "")))
        both = deg.groupby("ontology")["seen"].nunique()
        if len(both) > 1 and (both == 2).all():
            for seen, g in deg.groupby("seen", sort=True):
                rows.append(_share_rows("degradation_share", "seen" if seen == 1 else "unseen", g["event"] == 1,
                                        "pooled over ontologies"))
        elif len(both) > 1:
            lacking = sorted(str(o) for o, k in both.items() if k < 2)
            rows.append(_row("degradation_share", "pooled", np.nan,
                             note=f"no pooled seen/unseen comparison: {', '.join(lacking)} lack(s) seen or unseen facts "
                                  "(pooling would confound seen with ontology)"))
    else:
        rows.append(_row("degradation_share", "all", np.nan, note="no facts correct at epoch 0"))
    for kind, lr in logrank.items():
        for r in lr.itertuples():
            rows.append(_row(f"logrank_{kind}", str(r.group_var), float(r.test_statistic), p=float(r.p),
                             note=f"{r.groups}; n={r.n}; events={r.n_events}" + (f"; {r.note}" if isinstance(r.note, str) and r.note else "")))
    if not dynamics.empty:
        per = dynamics.drop_duplicates(["kind", "group_var", "group"])
        for r in per.itertuples():
            grp = f"{r.kind}/{r.group}"
            boot = f"; bootstrap 95% CI over facts ({int(r.n_bootstrap)} resamples)" if getattr(r, "n_bootstrap", 0) else ""
            rows.append(_row("peak_share_new", grp, float(r.peak_share), _f(r, "peak_share_lower_95"), _f(r, "peak_share_upper_95"),
                             note=(f"peak epoch {r.peak_epoch}" if not pd.isna(r.peak_epoch) else "no events") + boot))
            rows.append(_row("peak_epoch", grp, _f(r, "peak_epoch"), _f(r, "peak_epoch_lower_95"), _f(r, "peak_epoch_upper_95"),
                             note="epoch of the largest newly acquired share" + boot))
            rows.append(_row("convergence_epoch", grp, _f(r, "convergence_epoch"),
                             _f(r, "convergence_epoch_lower_95"), _f(r, "convergence_epoch_upper_95"),
                             note=f"final cumulative share {r.final_share:.3f}" + boot))
            rows.append(_row("rmst", grp, _f(r, "rmst"), _f(r, "rmst_lower_95"), _f(r, "rmst_upper_95"),
                             note=f"restricted mean epochs to the event, up to epoch {int(dynamics['epoch'].max())}" + boot))
            rows.append(_row("median_time", grp, _f(r, "median_time"), _f(r, "median_time_lower_95"), _f(r, "median_time_upper_95"),
                             note="KM median epoch (NA: fewer than half had the event by the last epoch)" + boot))
    for kind, spec in (selection or {}).items():
        if kind == "degradation":
            continue
        rows += _definition_rows(trajectories, kind, spec, compare_stable_epochs, cox_settings)
    rows += retention_rows(epoch_sets, control, forgetting, forgetting_curves)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def retention_rows(epoch_sets: pd.DataFrame | None = None, control: pd.DataFrame | None = None,
                   forgetting: pd.DataFrame | None = None,
                   forgetting_curves: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One summary row (or a few) per figure of the control and forgetting analyses: training loss vs trained recall; facts
    forgotten and relearned; confident errors (withheld facts); out-of-domain accuracy; time to the
    first forgetting after acquisition under each stable_epochs m."""
    rows: list[dict[str, Any]] = []
    if epoch_sets is not None and not epoch_sets.empty:
        first, last = int(epoch_sets["epoch"].min()), int(epoch_sets["epoch"].max())
        train = epoch_sets[epoch_sets["split"] == "train"].set_index("epoch").sort_index()
        loss = train["train_loss"].dropna() if len(train) else pd.Series(dtype=float)
        if len(loss):
            rec = train["correct"] / train["n"]
            r = rec.reindex(loss.index)
            varies = len(loss) > 2 and loss.nunique() > 1 and r.nunique() > 1
            rho = float(loss.corr(r, method="spearman")) if varies else np.nan
            rows.append(_row("train_loss", "final epoch", float(loss.iloc[-1]),
                             note=f"epoch {int(loss.index[-1])}; epoch {int(loss.index[0])}: {float(loss.iloc[0]):.4g}; "
                                  f"trained recall {rec.iloc[-1]:.3f} at epoch {int(rec.index[-1])}; "
                                  f"Spearman(loss, trained recall) over epochs {rho:.3g}"))
        for split, g in epoch_sets.groupby("split", sort=True):
            later = g[g["epoch"] >= 1]
            n = int(g["n"].iloc[0])
            rows.append(_row("forgotten_per_epoch", str(split), float(later["forgotten"].mean()) if len(later) else np.nan,
                             note=f"mean over epochs 1-{last} of facts right at e-1 and wrong at e; "
                                  f"{int(later['forgotten'].sum())} losses in all, of {n} facts"))
            rows.append(_row("relearned_per_epoch", str(split), float(later["relearned"].mean()) if len(later) else np.nan,
                             note=f"mean over epochs 1-{last} of facts right again after being lost; "
                                  f"{int(later['relearned'].sum())} in all"))
            rows.append(_row("best_epoch", str(split), float(g["best_epoch"].iloc[0]),
                             note=f"first epoch with the most facts right ({int(g['correct'].max())}/{n})"))
            ce = g.dropna(subset=["confident_error_share"]).set_index("epoch")
            for e in sorted({first, last} & set(ce.index)):
                k = int(ce.loc[e, "confident_errors"])
                v, lo, hi = wilson(k, n)
                rows.append(_row("confident_error_share", f"{split}/epoch {e}", v, lo, hi,
                                 note=f"{k}/{n} wrong answers with mean token probability at or above the threshold"
                                      + ("; the hallucination curve" if split == "heldout" else "")))
    if control is not None and not control.empty:
        for kind, g in control.groupby("kind", sort=True):
            g = g.sort_values("epoch")
            e0, eN = g.iloc[0], g.iloc[-1]
            low = g.loc[g["accuracy"].idxmin()]
            for label, r, note in ((f"{kind}/epoch {int(e0.epoch)}", e0, "base model"),
                                   (f"{kind}/final epoch", eN, f"epoch {int(eN.epoch)}"),
                                   (f"{kind}/lowest", low, f"epoch {int(low.epoch)}")):
                rows.append(_row("control_accuracy", label, float(r.accuracy), float(r.lower_95), float(r.upper_95),
                                 note=f"{int(r.correct)}/{int(r.n)}; {note}; chance {float(r.chance):.3g}"))
    if forgetting is not None and forgetting.empty:
        rows.append(_row("forgetting_share", "all", np.nan, note="no fact acquired before the last epoch"))
    elif forgetting is not None:
        med = {}
        if forgetting_curves is not None and not forgetting_curves.empty:
            for (kind, m), c in forgetting_curves.groupby(["kind", "m"]):
                below = c.loc[c["survival"] <= 0.5, "epoch"]
                med[(kind, int(m))] = float(below.min()) if len(below) else np.nan
        for (kind, m), g in forgetting.groupby(["kind", "m"], sort=True):
            rows.append(_share_rows("forgetting_share", f"{kind}/m={int(m)}", g["event"] == 1,
                                    f"acquired facts (correct for {int(m)} consecutive epoch(s)) wrong again later; "
                                    f"{int((g['n_forgettings'] >= 2).sum())} lost more than once"))
            rows.append(_row("median_time_to_forgetting", f"{kind}/m={int(m)}", med.get((kind, int(m)), np.nan),
                             note="KM median epochs from the confirmed acquisition to the first wrong epoch "
                                  "(NA: fewer than half were lost)"))
    return rows
