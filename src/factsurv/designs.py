"""Training designs as data: (facts, probe, design, seed) → the run's training plan.

The plan (``results/{run}/train_plan.tsv``, columns :data:`factsurv.tables.PLAN_COLUMNS`) has one row
per training example: (epoch, fact, format, repeat), its position in the epoch's order and its text
kind (``question`` or ``statement_{t}``, t the statement template; a statement's text is written in
the plan, a question is rendered by the recipe with the model's prompt format). ``train_epoch``
trains on its epoch's rows in ``position`` order and knows nothing of designs.

The design (``runs.<run>.design``, defaults in the schema) combines:

- **strategy** (arXiv 2505.16178): ``qa`` (one question per trained fact per epoch), ``mixed`` (questions
  and statements every epoch), ``two_stage`` (statements for ``stage_epochs`` epochs, then
  questions); ``statement_only_share`` of the trained facts are only ever shown as statements
  (per-run split ``statement_only``) and evaluated as questions;
- **exposure** (arXiv 2503.21676): ``uniform`` or ``power_law`` (repeats per epoch ∝ rank^−α);
- **curriculum**: ``warmup`` trains a share of the facts alone for the first epochs;
- **selection** (arXiv 2509.16596): train only candidates (``split == train`` in facts.tsv) of some baseline
  mastery levels and/or ``n`` of them; the others are withheld (per-run split ``heldout``).

Every random choice is keyed by (seed, purpose, fact_id), so a fact's fate does not depend on the
order of facts.tsv; the order inside an epoch is the permutation seeded by (seed, epoch) that the
recipe has always used (the default design reproduces the earlier training exactly).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pandas as pd

from factsurv.io import InputError, read_tsv
from factsurv.tables import MASTERY_LEVELS, MODEL_FACT_COLUMNS, PLAN_COLUMNS, RUN_SPLITS

QUESTION = "question"
STATEMENT = "statement"


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of an epoch's ``n`` examples: a permutation seeded by (seed, epoch) only."""
    import torch

    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g).tolist()


def fact_key(seed: int, purpose: str, fact_id: str) -> str:
    """A per-fact random key (hex digest) for ``purpose``: sorting by it draws facts at random,
    independently of their order or of which other facts are there."""
    return hashlib.sha256(f"{int(seed)}|{purpose}|{fact_id}".encode()).hexdigest()


def _draw(fact_ids: list[str], seed: int, purpose: str, k: int) -> set[str]:
    """``k`` of ``fact_ids``, those with the smallest key for ``purpose``."""
    return set(sorted(fact_ids, key=lambda f: fact_key(seed, purpose, f))[:k])


def select_facts(facts: pd.DataFrame, design: dict[str, Any], seed: int,
                 probe: pd.DataFrame | None = None) -> pd.DataFrame:
    """The facts this run trains (in facts.tsv order): candidates are ``split == train``, filtered by
    baseline mastery (``select.mastery``, needs the probe) and drawn to ``select.n``."""
    select = design["select"]
    cand = facts[facts["split"] == "train"]
    if select["mastery"] is not None:
        if probe is None:
            raise InputError("design.select.mastery needs the baseline probe (probe/baseline.tsv)")
        levels = probe.set_index("fact_id")["mastery"]
        missing = cand.loc[~cand["fact_id"].isin(levels.index), "fact_id"]
        if len(missing):
            raise InputError(f"probe/baseline.tsv: {len(missing)} trained candidate(s) have no mastery, "
                             f"e.g. fact_id {missing.iloc[0]!r}")
        cand = cand[cand["fact_id"].map(levels).isin(select["mastery"])]
    if select["n"] is not None:
        n = int(select["n"])
        if n > len(cand):
            raise InputError(f"config error at design.select.n: {n} facts asked, only {len(cand)} candidates "
                             f"{'of mastery ' + str(select['mastery']) + ' ' if select['mastery'] else ''}"
                             "in facts.tsv")
        chosen = _draw(list(cand["fact_id"]), seed, "select", n)
        cand = cand[cand["fact_id"].isin(chosen)]
    if cand.empty:
        raise InputError("design.select leaves no fact to train (no candidate with split == 'train'"
                         + (f" and mastery in {select['mastery']}" if select["mastery"] else "") + ")")
    return cand.reset_index(drop=True)


def repeats_per_fact(trained: pd.DataFrame, exposure: dict[str, Any], seed: int) -> dict[str, int]:
    """Examples per fact and format per epoch: 1 (uniform) or max(1, round(max_repeats·rank^−α))
    with rank 1 the largest covariate (ties and ``rank_by: random`` by the per-fact key)."""
    ids = list(trained["fact_id"])
    if exposure["kind"] == "uniform":
        return {f: 1 for f in ids}
    by = exposure["rank_by"]
    keyed = trained.assign(_key=[fact_key(seed, "exposure", f) for f in ids])
    if by == "random":
        ranked = keyed.sort_values("_key")
    else:
        if by not in trained.columns:
            raise InputError(f"config error at design.exposure.rank_by: facts.tsv has no column {by!r}")
        keyed["_cov"] = pd.to_numeric(keyed[by], errors="coerce").fillna(float("-inf"))
        ranked = keyed.sort_values(["_cov", "_key"], ascending=[False, True])
    alpha, top = float(exposure["alpha"]), int(exposure["max_repeats"])
    return {f: max(1, int(round(top * (rank ** -alpha))))
            for rank, f in enumerate(ranked["fact_id"], start=1)}


def _render_statement(template: str, ontology_name: str, label: str, identifier: str) -> str:
    from factsurv.prompts import statement

    return statement(template, ontology_name, label, identifier)


def build_plan(facts: pd.DataFrame, design: dict[str, Any], seed: int, epochs: int,
               ontology_names: dict[str, str], probe: pd.DataFrame | None = None) -> pd.DataFrame:
    """The training plan of epochs 1..``epochs`` (the run's ``training.schedule_epochs``, so that
    raising ``epochs`` leaves the plan as it is)."""
    epochs = int(epochs)
    strategy = design["strategy"]
    if strategy == "two_stage" and int(design["stage_epochs"]) >= epochs:
        raise InputError(f"config error at design.stage_epochs: {design['stage_epochs']} leaves no epoch for "
                         f"questions (the plan spans training.schedule_epochs = {epochs})")
    cur = design["curriculum"]
    if cur["kind"] == "warmup" and int(cur["epochs"]) >= epochs:
        raise InputError(f"config error at design.curriculum.epochs: {cur['epochs']} warm-up epochs leave no "
                         f"epoch for all facts (the plan spans training.schedule_epochs = {epochs})")
    trained = select_facts(facts, design, seed, probe)
    ids = list(trained["fact_id"])
    statement_only = _draw(ids, seed, "statement_only", int(round(float(design["statement_only_share"]) * len(ids))))
    if len(statement_only) == len(ids):
        raise InputError("config error at design.statement_only_share: no fact left to train with questions")
    warm = set(ids)
    if cur["kind"] == "warmup":
        warm = _draw(ids, seed, "warmup", max(1, int(round(float(cur["share"]) * len(ids)))))
    repeats = repeats_per_fact(trained, design["exposure"], seed)
    templates = list(design["statements"])
    spe = int(design["statements_per_epoch"])
    offset = {f: int(fact_key(seed, "paraphrase", f), 16) % len(templates) for f in ids}
    missing = sorted(set(trained["ontology"]) - set(ontology_names))
    if missing and (strategy != "qa" or statement_only):
        raise InputError(f"facts: ontology {missing[0]!r} has no name in the prompt settings")

    rows: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        questions = strategy == "qa" or strategy == "mixed" or (
            strategy == "two_stage" and epoch > int(design["stage_epochs"]))
        statements = strategy == "mixed" or (strategy == "two_stage" and epoch <= int(design["stage_epochs"]))
        active = warm if cur["kind"] == "warmup" and epoch <= int(cur["epochs"]) else set(ids)
        canonical: list[dict[str, Any]] = []
        for fact in trained.itertuples(index=False):
            f = fact.fact_id
            if f not in active:
                continue
            only_statements = f in statement_only
            n = repeats[f]
            if questions and not only_statements:
                canonical += [{"fact_id": f, "format": QUESTION, "repeat": r, "kind": QUESTION, "text": ""}
                              for r in range(n)]
            if statements or (only_statements and strategy != "two_stage"):
                r = 0
                for j in range(spe):
                    t = (offset[f] + (epoch - 1) * spe + j) % len(templates)
                    text = _render_statement(templates[t], ontology_names[fact.ontology], fact.label, fact.term_id)
                    for _ in range(n):
                        canonical.append({"fact_id": f, "format": STATEMENT, "repeat": r,
                                          "kind": f"{STATEMENT}_{t}", "text": text})
                        r += 1
        order = epoch_order(len(canonical), seed, epoch)
        rows += [{"epoch": epoch, "position": p, **canonical[i]} for p, i in enumerate(order)]
    plan = pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
    return plan.astype({"epoch": int, "position": int, "repeat": int})


def default_design() -> dict[str, Any]:
    """The schema's default design (today's: every trained fact as one question per epoch)."""
    from factsurv.config import section_defaults

    return section_defaults("definitions.design")


def read_plan(path: str | os.PathLike[str]) -> pd.DataFrame:
    """train_plan.tsv, validated against :data:`PLAN_COLUMNS` (statement text kept as written)."""
    df = read_tsv(path, PLAN_COLUMNS, dtype={"fact_id": str, "format": str, "kind": str, "text": str})
    df["text"] = df["text"].fillna("")
    bad = ~df["format"].isin([QUESTION, STATEMENT])
    if bad.any():
        raise InputError(f"{path}: line {int(bad.to_numpy().argmax()) + 2}: format must be question or "
                         f"statement, got {df['format'][bad].iloc[0]!r}")
    return df


def plan_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def run_facts(facts: pd.DataFrame, plan: pd.DataFrame, epochs: int | None = None) -> pd.DataFrame:
    """One row per fact of facts.tsv with what the plan did to it in epochs 1..``epochs`` (all when
    None): the per-run ``split`` (train: asked as a question at least once; statement_only: shown
    only as statements; heldout: never shown), ``seen``, ``exposures`` (examples in all) and
    ``first_exposure_epoch`` (NA when never shown)."""
    p = plan if epochs is None else plan[plan["epoch"] <= int(epochs)]
    whole = plan.groupby("fact_id")["format"].agg(lambda s: QUESTION in set(s))
    exposures = p.groupby("fact_id").size()
    first = p.groupby("fact_id")["epoch"].min()
    out = pd.DataFrame({"fact_id": facts["fact_id"].astype(str)})
    asked = out["fact_id"].map(whole)
    out["split"] = asked.map({True: "train", False: "statement_only"}).fillna("heldout")
    out["seen"] = out["fact_id"].isin(set(plan["fact_id"])).astype(int)
    out["exposures"] = out["fact_id"].map(exposures).fillna(0).astype(int)
    out["first_exposure_epoch"] = out["fact_id"].map(first).astype("Int64")
    assert set(out["split"]) <= set(RUN_SPLITS)
    return out


def exposures_so_far(plan: pd.DataFrame, fact_ids: pd.Series, epochs: pd.Series) -> pd.Series:
    """Examples of each (fact, epoch) pair's fact in epochs 1..epoch (the time-varying exposure)."""
    per = plan.groupby(["fact_id", "epoch"]).size().rename("n").reset_index()
    per = per.sort_values(["fact_id", "epoch"])
    per["cum"] = per.groupby("fact_id")["n"].cumsum()
    q = pd.DataFrame({"fact_id": fact_ids.to_numpy(), "epoch": epochs.to_numpy()})
    q["_i"] = range(len(q))
    q = q.sort_values("epoch")
    merged = pd.merge_asof(q, per[["fact_id", "epoch", "cum"]].sort_values("epoch"), on="epoch", by="fact_id")
    return merged.sort_values("_i")["cum"].fillna(0).astype(int).set_axis(fact_ids.index)


def plan_from_files(facts_path: str | os.PathLike[str], design: dict[str, Any], seed: int, epochs: int,
                    ontology_names: dict[str, str],
                    probe_path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """What rule ``train_plan`` does: read facts.tsv (and the baseline probe when the design selects
    by mastery), then :func:`build_plan`."""
    facts = read_tsv(facts_path, MODEL_FACT_COLUMNS,
                     dtype={"fact_id": str, "ontology": str, "term_id": str, "label": str, "split": str})
    probe = None
    if probe_path is not None:
        probe = read_tsv(probe_path, ("fact_id", "mastery"), dtype={"fact_id": str, "mastery": str})
        bad = ~probe["mastery"].isin(MASTERY_LEVELS)
        if bad.any():
            raise InputError(f"{probe_path}: line {int(bad.to_numpy().argmax()) + 2}: mastery must be one of "
                             f"{list(MASTERY_LEVELS)}, got {probe['mastery'][bad].iloc[0]!r}")
    return build_plan(facts, design, seed, epochs, ontology_names, probe=probe)


def describe_plan(plan: pd.DataFrame) -> str:
    """One log line per epoch: examples, facts, questions and statements."""
    lines = []
    for epoch, g in plan.groupby("epoch", sort=True):
        n = g["format"].value_counts()
        lines.append(f"epoch {int(epoch)}: {len(g)} examples of {g['fact_id'].nunique()} facts "
                     f"({int(n.get(QUESTION, 0))} questions, {int(n.get(STATEMENT, 0))} statements)")
    return "\n".join(lines)
