"""The run's headline numbers (the paper's), as one tidy table ``metric, group, value, …``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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


def _row(metric: str, group: str, value: float, lo: float = np.nan, hi: float = np.nan, p: float = np.nan,
         note: str = "", q: float = np.nan, ph_p: float = np.nan, flag: str = "") -> dict[str, Any]:
    """One row of the summary (:data:`SUMMARY_COLUMNS`)."""
    return {"metric": metric, "group": group, "value": value, "lower_95": lo, "upper_95": hi, "p": p, "note": note,
            "q": q, "ph_p": ph_p, "flag": flag}


def _ok(r: Any) -> bool:
    """Whether a model row converged (``True`` as a bool or as read back from a TSV)."""
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
    """The HR of ``covariate`` in every Cox model of ``cox``, with its q-value, PH test p and flags."""
    rows = []
    q = {} if qvalues is None or qvalues.empty else {
        (r.kind, r.model, r.covariate): float(r.q) for r in qvalues.itertuples()}
    for r in cox[cox["covariate"] == covariate].itertuples():
        ok = _ok(r)
        rows.append(_row(metric, str(r.model), float(r.hr) if ok else np.nan,
                         float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                         float(r.p) if ok else np.nan,
                         note="; ".join(filter(None, [f"n={r.n}, events={r.n_events}",
                                                      reader_note(r.warning)])),
                         q=q.get((kind, str(r.model), covariate), np.nan),
                         ph_p=float(getattr(r, "ph_test_p", np.nan)) if ok else np.nan,
                         flag=_flags(r, min_epv, max_vif) if ok else "not converged"))
    return rows


def _share_row(metric: str, group: str, hits: pd.Series, note: str = "") -> dict[str, Any]:
    """The share of true ``hits`` with its Wilson 95% interval; the note starts with k/n."""
    k, n = int(hits.sum()), int(len(hits))
    v, lo, hi = wilson(k, n)
    return _row(metric, group, v, lo, hi, note=f"{k}/{n}" + (f"; {note}" if note else ""))


def _f(r: Any, name: str) -> float:
    """Field ``name`` of row ``r`` as a float (NaN when missing or empty)."""
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
            rows.append(_share_row(f"{kind}_share_by_definition", f"{onto}/m={m}", g["event"] == 1,
                                   f"event = correct for {m} consecutive epoch(s)"))
        if cox_settings is not None and not ev.empty and "latent" in ev.columns:
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
        rows.append(_share_row(f"{kind}_share_by_definition", f"{onto}/final epoch", g["final_correct"] == 1,
                               f"correct at epoch {last} (the final-epoch state)"))
    return rows


@dataclass(frozen=True, eq=False)
class SummaryInputs:
    """What the summary reads: the analysis tables of one run and the few settings that shape its rows.

    ``cox`` (all kinds), ``qvalues`` and ``cloglog`` (acquisition) add BH q-values, PH test p and flags
    to the HR rows, the cloglog HR beside Cox's and the HR of seen for degradation; ``selection``
    (kind → splits/ontologies) with ``compare_stable_epochs`` adds the event shares (and, with
    ``cox_settings``, the univariable latent HR) under each m; ``epoch_sets``, ``control``,
    ``forgetting`` and ``forgetting_curves`` add the rows of :func:`retention_rows`.
    """

    trajectories: pd.DataFrame
    events: Mapping[str, pd.DataFrame]
    cox_acquisition: pd.DataFrame
    logrank: Mapping[str, pd.DataFrame]
    dynamics: pd.DataFrame
    cox: Mapping[str, pd.DataFrame] | None = None
    qvalues: pd.DataFrame | None = None
    cloglog: pd.DataFrame | None = None
    epoch_sets: pd.DataFrame | None = None
    control: pd.DataFrame | None = None
    forgetting: pd.DataFrame | None = None
    forgetting_curves: pd.DataFrame | None = None
    demo: bool = False
    selection: Mapping[str, Mapping[str, Any]] | None = None
    compare_stable_epochs: Sequence[int] = ()
    cox_settings: Any = None

    @property
    def last_epoch(self) -> int:
        """The run's last epoch."""
        return int(self.trajectories["epoch"].max())

    @property
    def min_epv(self) -> float:
        """The events-per-parameter floor below which an HR row is flagged (0: none)."""
        return float(getattr(self.cox_settings, "min_events_per_parameter", 0) or 0)

    @property
    def max_vif(self) -> float:
        """The VIF above which an HR row is flagged (inf: none)."""
        return float(getattr(self.cox_settings, "max_vif", np.inf) or np.inf)


def _run_rows(inputs: SummaryInputs) -> list[dict[str, Any]]:
    """The demo-model note (demo runs only) and the number of epochs."""
    rows = [_row("model", "all", np.nan, note=DEMO_NOTE)] if inputs.demo else []
    return rows + [_row("epochs", "all", float(inputs.last_epoch))]


def _recall_rows(g: pd.DataFrame, group: str, last: int) -> list[dict[str, Any]]:
    """Greedy recall of one ontology/split at epoch 0 and at the last epoch."""
    return [_share_row("baseline_greedy_recall", group, g.loc[g["epoch"] == 0, "correct"], "epoch 0"),
            _share_row("final_recall", group, g.loc[g["epoch"] == last, "correct"], f"epoch {last}")]


def _latent_share_rows(g: pd.DataFrame, group: str) -> list[dict[str, Any]]:
    """Share of latent facts of one ontology/split: of all facts, and of those wrong at epoch 0."""
    base = g[g["epoch"] == 0]
    return [_share_row("latent_share", group, base["latent"] == 1, "of all facts"),
            _share_row("latent_share_of_wrong", group, base.loc[base["correct"] == 0, "latent"] == 1,
                       "of facts wrong under greedy decoding at epoch 0")]


def _fact_rows(inputs: SummaryInputs) -> list[dict[str, Any]]:
    """Recall and latent shares per ontology/split, in the order of the groups."""
    rows: list[dict[str, Any]] = []
    for (onto, split), g in inputs.trajectories.groupby(["ontology", "split"], sort=True):
        group = f"{onto}/{split}"
        rows += _recall_rows(g, group, inputs.last_epoch) + _latent_share_rows(g, group)
    return rows


def _acquisition_hr_rows(inputs: SummaryInputs) -> list[dict[str, Any]]:
    """The Cox HR of latent for acquisition in every model that has it (one NA row if none has)."""
    cox = inputs.cox_acquisition
    rows = _hr_rows("hr_latent_acquisition", cox, "latent", "acquisition", inputs.qvalues,
                    inputs.min_epv, inputs.max_vif)
    if not (cox["covariate"] == "latent").any():
        rows.append(_row("hr_latent_acquisition", "multivariable", np.nan, note="latent not in the Cox models"))
    return rows


def _cloglog_note(r: Any) -> str:
    """The note of a cloglog HR row: the model, the Cox HR beside it, the fit's warning."""
    cox = f"Cox HR {r.cox_hr:.3g}" if np.isfinite(r.cox_hr) else "no Cox HR"
    warning = f"; {r.warning}" if isinstance(r.warning, str) and r.warning else ""
    return "discrete-time cloglog, cluster-robust SE; " + cox + warning


def _cloglog_hr_rows(cloglog: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The discrete-time cloglog HR of latent for acquisition, per model."""
    if cloglog is None or cloglog.empty:
        return []
    rows = []
    for r in cloglog[cloglog["covariate"] == "latent"].itertuples():
        ok = _ok(r)
        rows.append(_row("hr_latent_acquisition_cloglog", str(r.model), float(r.hr) if ok else np.nan,
                         float(r.hr_lower_95) if ok else np.nan, float(r.hr_upper_95) if ok else np.nan,
                         float(r.p) if ok else np.nan, note=_cloglog_note(r), flag="" if ok else "not converged"))
    return rows


def _degradation_hr_rows(inputs: SummaryInputs) -> list[dict[str, Any]]:
    """The Cox HR of seen (trained) for degradation, when the degradation models are given."""
    cox = (inputs.cox or {}).get("degradation")
    if cox is None or cox.empty:
        return []
    return _hr_rows("hr_seen_degradation", cox, "seen", "degradation", inputs.qvalues, inputs.min_epv, inputs.max_vif)


def _generalization_rows(events: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Share of withheld facts wrong at epoch 0 that become right, per ontology and latent level."""
    gen = events.get("generalization")
    if gen is None or gen.empty:
        return [_row("generalization_share", "all", np.nan, note="no withheld facts at risk")]
    rows = []
    for onto, g in gen.groupby("ontology", sort=True):
        rows.append(_share_row("generalization_share", str(onto), g["event"] == 1, "withheld facts wrong at epoch 0"))
        for lv, gl in g.groupby("latent"):
            rows.append(_share_row("generalization_share", f"{onto}/{'latent' if lv == 1 else 'not latent'}",
                                   gl["event"] == 1))
    return rows


def _degradation_rows(events: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Share of facts right at epoch 0 that become wrong, per ontology and seen/unseen; pooled over
    ontologies only when every ontology has both (otherwise ``seen`` would partly mean the ontology)."""
    deg = events.get("degradation")
    if deg is None or deg.empty:
        return [_row("degradation_share", "all", np.nan, note="no facts correct at epoch 0")]
    rows = []
    for (onto, seen), g in deg.groupby(["ontology", "seen"], sort=True):
        rows.append(_share_row("degradation_share", f"{onto}/{'seen' if seen == 1 else 'unseen'}", g["event"] == 1,
                               "facts correct at epoch 0" + ("; headline" if onto == "go" else "")))
    both = deg.groupby("ontology")["seen"].nunique()
    if len(both) > 1 and (both == 2).all():
        for seen, g in deg.groupby("seen", sort=True):
            rows.append(_share_row("degradation_share", "seen" if seen == 1 else "unseen", g["event"] == 1,
                                   "pooled over ontologies"))
    elif len(both) > 1:
        lacking = sorted(str(o) for o, k in both.items() if k < 2)
        rows.append(_row("degradation_share", "pooled", np.nan,
                         note=f"no pooled seen/unseen comparison: {', '.join(lacking)} lack(s) seen or unseen facts "
                              "(pooling would confound seen with ontology)"))
    return rows


def _logrank_rows(logrank: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """The log-rank test of every kind: statistic, p, the groups and their sizes."""
    rows = []
    for kind, lr in logrank.items():
        for r in lr.itertuples():
            extra = f"; {r.note}" if isinstance(r.note, str) and r.note else ""
            rows.append(_row(f"logrank_{kind}", str(r.group_var), float(r.test_statistic), p=float(r.p),
                             note=f"{r.groups}; n={r.n}; events={r.n_events}" + extra))
    return rows


def _dynamics_rows(dynamics: pd.DataFrame) -> list[dict[str, Any]]:
    """Peak share and epoch, convergence epoch, RMST and KM median time per kind and group."""
    if dynamics.empty:
        return []
    rows = []
    horizon = int(dynamics["epoch"].max())
    for r in dynamics.drop_duplicates(["kind", "group_var", "group"]).itertuples():
        grp = f"{r.kind}/{r.group}"
        boot = f"; bootstrap 95% CI over facts ({int(r.n_bootstrap)} resamples)" if getattr(r, "n_bootstrap", 0) else ""
        peak = f"peak epoch {r.peak_epoch}" if not pd.isna(r.peak_epoch) else "no events"
        rows += [
            _row("peak_share_new", grp, float(r.peak_share), _f(r, "peak_share_lower_95"),
                 _f(r, "peak_share_upper_95"), note=peak + boot),
            _row("peak_epoch", grp, _f(r, "peak_epoch"), _f(r, "peak_epoch_lower_95"), _f(r, "peak_epoch_upper_95"),
                 note="epoch of the largest newly acquired share" + boot),
            _row("convergence_epoch", grp, _f(r, "convergence_epoch"), _f(r, "convergence_epoch_lower_95"),
                 _f(r, "convergence_epoch_upper_95"), note=f"final cumulative share {r.final_share:.3f}" + boot),
            _row("rmst", grp, _f(r, "rmst"), _f(r, "rmst_lower_95"), _f(r, "rmst_upper_95"),
                 note=f"restricted mean epochs to the event, up to epoch {horizon}" + boot),
            _row("median_time", grp, _f(r, "median_time"), _f(r, "median_time_lower_95"),
                 _f(r, "median_time_upper_95"),
                 note="KM median epoch (NA: fewer than half had the event by the last epoch)" + boot),
        ]
    return rows


def _stable_epochs_rows(inputs: SummaryInputs) -> list[dict[str, Any]]:
    """:func:`_definition_rows` of every selected kind but degradation."""
    rows: list[dict[str, Any]] = []
    for kind, spec in (inputs.selection or {}).items():
        if kind != "degradation":
            rows += _definition_rows(inputs.trajectories, kind, spec, inputs.compare_stable_epochs,
                                     inputs.cox_settings)
    return rows


def summary_table(inputs: SummaryInputs) -> pd.DataFrame:
    """Baseline and final greedy recall per ontology/split, latent share, HR of latent for
    acquisition (every model that has it), generalization and degradation shares, log-rank p,
    peak and convergence epochs, then the optional rows of :class:`SummaryInputs`. Shares carry
    Wilson 95% intervals."""
    rows = [
        *_run_rows(inputs),
        *_fact_rows(inputs),
        *_acquisition_hr_rows(inputs),
        *_cloglog_hr_rows(inputs.cloglog),
        *_degradation_hr_rows(inputs),
        *_generalization_rows(inputs.events),
        *_degradation_rows(inputs.events),
        *_logrank_rows(inputs.logrank),
        *_dynamics_rows(inputs.dynamics),
        *_stable_epochs_rows(inputs),
        *retention_rows(inputs.epoch_sets, inputs.control, inputs.forgetting, inputs.forgetting_curves),
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _loss_rows(epoch_sets: pd.DataFrame) -> list[dict[str, Any]]:
    """The final training loss, with the first one, the trained recall and their rank correlation."""
    train = epoch_sets[epoch_sets["split"] == "train"].set_index("epoch").sort_index()
    loss = train["train_loss"].dropna() if len(train) else pd.Series(dtype=float)
    if not len(loss):
        return []
    rec = train["correct"] / train["n"]
    r = rec.reindex(loss.index)
    varies = len(loss) > 2 and loss.nunique() > 1 and r.nunique() > 1
    rho = float(loss.corr(r, method="spearman")) if varies else np.nan
    return [_row("train_loss", "final epoch", float(loss.iloc[-1]),
                 note=f"epoch {int(loss.index[-1])}; epoch {int(loss.index[0])}: {float(loss.iloc[0]):.4g}; "
                      f"trained recall {rec.iloc[-1]:.3f} at epoch {int(rec.index[-1])}; "
                      f"Spearman(loss, trained recall) over epochs {rho:.3g}")]


def _split_set_rows(split: str, g: pd.DataFrame, first: int, last: int) -> list[dict[str, Any]]:
    """Facts forgotten and relearned per epoch, the best epoch and the confident-error shares of one split."""
    later = g[g["epoch"] >= 1]
    n = int(g["n"].iloc[0])
    rows = [
        _row("forgotten_per_epoch", split, float(later["forgotten"].mean()) if len(later) else np.nan,
             note=f"mean over epochs 1-{last} of facts right at e-1 and wrong at e; "
                  f"{int(later['forgotten'].sum())} losses in all, of {n} facts"),
        _row("relearned_per_epoch", split, float(later["relearned"].mean()) if len(later) else np.nan,
             note=f"mean over epochs 1-{last} of facts right again after being lost; "
                  f"{int(later['relearned'].sum())} in all"),
        _row("best_epoch", split, float(g["best_epoch"].iloc[0]),
             note=f"first epoch with the most facts right ({int(g['correct'].max())}/{n})"),
    ]
    ce = g.dropna(subset=["confident_error_share"]).set_index("epoch")
    for e in sorted({first, last} & set(ce.index)):
        k = int(ce.loc[e, "confident_errors"])
        v, lo, hi = wilson(k, n)
        rows.append(_row("confident_error_share", f"{split}/epoch {e}", v, lo, hi,
                         note=f"{k}/{n} wrong answers with mean token probability at or above the threshold"
                              + ("; the hallucination curve" if split == "heldout" else "")))
    return rows


def _control_rows(control: pd.DataFrame) -> list[dict[str, Any]]:
    """Out-of-domain accuracy per control kind: at the base model, at the final epoch, at its lowest."""
    rows = []
    for kind, g in control.groupby("kind", sort=True):
        g = g.sort_values("epoch")
        e0, eN = g.iloc[0], g.iloc[-1]
        low = g.loc[g["accuracy"].idxmin()]
        for label, r, note in ((f"{kind}/epoch {int(e0.epoch)}", e0, "base model"),
                               (f"{kind}/final epoch", eN, f"epoch {int(eN.epoch)}"),
                               (f"{kind}/lowest", low, f"epoch {int(low.epoch)}")):
            rows.append(_row("control_accuracy", label, float(r.accuracy), float(r.lower_95), float(r.upper_95),
                             note=f"{int(r.correct)}/{int(r.n)}; {note}; chance {float(r.chance):.3g}"))
    return rows


def _forgetting_rows(forgetting: pd.DataFrame, curves: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Share of acquired facts forgotten later and the KM median time to it, per kind and m."""
    if forgetting.empty:
        return [_row("forgetting_share", "all", np.nan, note="no fact acquired before the last epoch")]
    median = {}
    if curves is not None and not curves.empty:
        for (kind, m), c in curves.groupby(["kind", "m"]):
            below = c.loc[c["survival"] <= 0.5, "epoch"]
            median[(kind, int(m))] = float(below.min()) if len(below) else np.nan
    rows = []
    for (kind, m), g in forgetting.groupby(["kind", "m"], sort=True):
        rows.append(_share_row("forgetting_share", f"{kind}/m={int(m)}", g["event"] == 1,
                               f"acquired facts (correct for {int(m)} consecutive epoch(s)) wrong again later; "
                               f"{int((g['n_forgettings'] >= 2).sum())} lost more than once"))
        rows.append(_row("median_time_to_forgetting", f"{kind}/m={int(m)}", median.get((kind, int(m)), np.nan),
                         note="KM median epochs from the confirmed acquisition to the first wrong epoch "
                              "(NA: fewer than half were lost)"))
    return rows


def retention_rows(epoch_sets: pd.DataFrame | None = None, control: pd.DataFrame | None = None,
                   forgetting: pd.DataFrame | None = None,
                   forgetting_curves: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One summary row (or a few) per figure of the control and forgetting analyses: training loss vs
    trained recall; facts forgotten and relearned; confident errors (withheld facts); out-of-domain
    accuracy; time to the first forgetting after acquisition under each stable_epochs m."""
    rows: list[dict[str, Any]] = []
    if epoch_sets is not None and not epoch_sets.empty:
        first, last = int(epoch_sets["epoch"].min()), int(epoch_sets["epoch"].max())
        rows += _loss_rows(epoch_sets)
        for split, g in epoch_sets.groupby("split", sort=True):
            rows += _split_set_rows(str(split), g, first, last)
    if control is not None and not control.empty:
        rows += _control_rows(control)
    if forgetting is not None:
        rows += _forgetting_rows(forgetting, forgetting_curves)
    return rows
