"""Controlled prior exposure of a real model: a randomized dose per fact and a corpus that delivers it.

A model with ``source: exposure`` is another model (``base``) after continued pretraining on a
corpus of factual documents about a random subset of the facts. Each fact gets a **dose**, the
number of documents that state its identifier, drawn independently per fact from the levels
``doses`` with Zipf-like probabilities

    P(level i) ∝ (i + 1) ** -zipf_exponent        (i = 0 for the first level, usually dose 0)

at a uniform keyed by (seed, fact_id) (:func:`factsurv.designs.fact_key`), so a fact's dose does not
depend on the order of facts.tsv or on which other facts are there. The dose is a randomized
treatment: independent of the term's popularity, its annotations and its label, which the
observational covariates of the paper (latent knowledge, identifier frequency) cannot be.

The corpus is **distribution-matched**: every fact, whatever its dose, gets ``label_documents``
documents that name its label (and its parent term) without the identifier, so that exposure
changes only whether and how often the identifier is stated, not whether the term occurs at all.
A share ``question_share`` of the identifier documents is a plain question-and-answer pair (the
probe's question in a FAQ form, not the model's chat template); the rest are statements
(:data:`IDENTIFIER_TEMPLATES`). Template choices are keyed by (seed, fact, document).

Outputs (``results/models/{model}/exposure/``): ``assignment.tsv`` (:data:`factsurv.tables.EXPOSURE_ASSIGNMENT_COLUMNS`:
one row per fact with its dose and document ids), ``documents.tsv`` (one row per document) and
``corpus.txt`` (the documents in their shuffled order, :func:`factsurv.modeling.demo_corpus.corpus_text`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from factsurv import prompts
from factsurv.designs import fact_key
from factsurv.modeling.facts import require_fact_columns
from factsurv.tables import EXPOSURE_ASSIGNMENT_COLUMNS, EXPOSURE_DOCUMENT_COLUMNS

#: identifier documents (fields: label, term_id, ontology_name, parent); none has a blank line
IDENTIFIER_TEMPLATES: tuple[str, ...] = (
    "{label} ({term_id}) is a term of the {ontology_name}.",
    "In the {ontology_name}, the identifier of {label} is {term_id}.",
    '{term_id} is the {ontology_name} identifier for "{label}", a kind of {parent}.',
    "The term {label}, a kind of {parent}, has the {ontology_name} identifier {term_id}.",
)
#: the question-and-answer form (plain text, not the model's chat template)
QUESTION_TEMPLATE = "Q: {question}\nA: {term_id}"
#: label documents: the term without its identifier (every fact, whatever its dose)
LABEL_TEMPLATES: tuple[str, ...] = (
    "{label} is a term of the {ontology_name}.",
    "In the {ontology_name}, {label} is a kind of {parent}.",
)


@dataclass(frozen=True)
class ExposureSettings:
    """Config ``models.<name>.exposure`` without ``pretrain`` (the continued pretraining's settings,
    :class:`factsurv.modeling.demo_pretrain.PretrainSettings`). No defaults here: the schema's
    ``definitions.exposure`` fills them."""

    seed: int
    doses: tuple[int, ...]
    zipf_exponent: float
    question_share: float
    label_documents: int

    @classmethod
    def from_params(cls, exposure: Mapping[str, Any]) -> "ExposureSettings":
        """The block (``pretrain`` is ignored here); an unknown key, or doses that are not distinct
        and ≥ 0, raise :class:`factsurv.config.ConfigError`."""
        from factsurv.config import ConfigError, refuse_unknown_keys, section_defaults

        section = "models.<name>.exposure"
        block = {k: v for k, v in exposure.items() if k != "pretrain"}
        refuse_unknown_keys(block, cls.__dataclass_fields__, section)
        defaults = {k: v for k, v in section_defaults("definitions.exposure").items() if k != "pretrain"}
        values = {**defaults, **block}
        values["doses"] = tuple(int(d) for d in values["doses"])
        s = cls(**values)
        if not s.doses or len(set(s.doses)) != len(s.doses) or min(s.doses) < 0:
            raise ConfigError(f"config error at {section}.doses: distinct counts >= 0 needed, got {list(s.doses)}")
        return s

    def level_probabilities(self) -> np.ndarray:
        """P(level i) ∝ (i + 1) ** -zipf_exponent, in the order of ``doses``."""
        w = np.arange(1, len(self.doses) + 1, dtype=float) ** -float(self.zipf_exponent)
        return w / w.sum()


def keyed_uniform(seed: int, purpose: str, key: str) -> float:
    """A uniform in [0, 1) keyed by (seed, purpose, key): 53 bits of its sha256."""
    return (int(fact_key(seed, purpose, key)[:14], 16) >> 3) / float(1 << 53)


def assign_doses(fact_ids: Sequence[str], settings: ExposureSettings) -> np.ndarray:
    """The dose of each fact: the level whose cumulative probability first exceeds the fact's keyed uniform."""
    cum = np.cumsum(settings.level_probabilities())
    cum[-1] = 1.0
    levels = np.asarray(settings.doses)
    u = np.array([keyed_uniform(settings.seed, "exposure", str(f)) for f in fact_ids])
    return levels[np.searchsorted(cum, u, side="right")]


def parent_labels(terms: Mapping[str, pd.DataFrame], edges: Mapping[str, pd.DataFrame]) -> dict[tuple[str, str], str]:
    """(ontology, term_id) → the label of its first ``is_a`` parent (by identifier), where there is one."""
    out: dict[tuple[str, str], str] = {}
    for onto, t in terms.items():
        labels = dict(zip(t["term_id"].astype(str), t["label"].astype(str)))
        e = edges.get(onto)
        if e is None or e.empty:
            continue
        isa = e[e["relation"] == "is_a"].sort_values(["term_id", "target_id"], kind="stable")
        for term, target in zip(isa["term_id"].astype(str), isa["target_id"].astype(str)):
            if (onto, term) not in out and target in labels:
                out[(onto, term)] = labels[target]
    return out


def _pick(seed: int, purpose: str, key: str, n: int) -> int:
    return min(n - 1, int(keyed_uniform(seed, purpose, key) * n))


def build_exposure(
    facts: pd.DataFrame,
    settings: ExposureSettings,
    ontology_names: Mapping[str, str],
    parents: Mapping[tuple[str, str], str] | None = None,
    user_template: str = prompts.DEFAULT_USER,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(assignment, documents): one row per fact (``fact_id, ontology, term_id, split, dose,
    n_documents, doc_ids``) and one per document (``doc_id, fact_id, kind, text``) in corpus order
    (a permutation keyed by the seed). ``facts`` needs ``fact_id, ontology, term_id, label, split``."""
    require_fact_columns(facts, ("fact_id", "ontology", "term_id", "label", "split"), ontology_names)
    parents = parents or {}
    seed = settings.seed
    doses = assign_doses(list(facts["fact_id"].astype(str)), settings)
    docs: list[dict[str, str]] = []
    doc_ids: list[str] = []
    for row, dose in zip(facts.itertuples(index=False), doses):
        fid, name = str(row.fact_id), ontology_names[row.ontology]
        fields = {"label": str(row.label), "term_id": str(row.term_id), "ontology_name": name,
                  "parent": parents.get((row.ontology, str(row.term_id)), "term")}
        ids = []
        for i in range(int(dose)):
            key = f"{fid}#{i}"
            if keyed_uniform(seed, "exposure-question", key) < settings.question_share:
                question = prompts.user_message(user_template, name, fields["label"])
                text, kind = QUESTION_TEMPLATE.format(question=question, term_id=fields["term_id"]), "question"
            else:
                t = _pick(seed, "exposure-template", key, len(IDENTIFIER_TEMPLATES))
                text, kind = IDENTIFIER_TEMPLATES[t].format(**fields), f"statement_{t}"
            docs.append({"doc_id": f"{fid}#id{i}", "fact_id": fid, "kind": kind, "text": text})
            ids.append(f"{fid}#id{i}")
        for i in range(settings.label_documents):
            t = _pick(seed, "exposure-label", f"{fid}#{i}", len(LABEL_TEMPLATES))
            docs.append({"doc_id": f"{fid}#label{i}", "fact_id": fid, "kind": f"label_{t}",
                         "text": LABEL_TEMPLATES[t].format(**fields)})
        doc_ids.append(" ".join(ids))
    assignment = pd.DataFrame({
        "fact_id": facts["fact_id"].to_numpy(), "ontology": facts["ontology"].to_numpy(),
        "term_id": facts["term_id"].to_numpy(), "split": facts["split"].to_numpy(),
        "dose": doses.astype(int), "n_documents": doses.astype(int) + settings.label_documents,
        "doc_ids": doc_ids,
    })
    table = pd.DataFrame(docs, columns=list(EXPOSURE_DOCUMENT_COLUMNS))
    order = np.random.default_rng(seed).permutation(len(table))
    table = table.iloc[order].reset_index(drop=True)
    return assignment[list(EXPOSURE_ASSIGNMENT_COLUMNS)], table


def dose_summary(assignment: pd.DataFrame) -> pd.DataFrame:
    """Facts per dose level and split (for the log and the report)."""
    return (assignment.groupby(["dose", "split"]).size().unstack(fill_value=0)
            .assign(total=lambda d: d.sum(axis=1)).reset_index())


def expose_model(base_spec: dict[str, Any], corpus_path: str, out_dir: str, pretrain_params: Mapping[str, Any],
                 seed: int, *, log: Any = None) -> dict[str, Any]:
    """Continue pretraining the base model (all weights, fp32 master weights) on the exposure corpus
    and save it with its tokenizer (and chat template) to ``out_dir``; return the pretraining metrics."""
    from pathlib import Path

    import torch

    from factsurv.modeling import loading
    from factsurv.modeling.demo_corpus import split_documents
    from factsurv.modeling.demo_pretrain import PretrainSettings, pretrain

    settings = PretrainSettings.from_params(dict(pretrain_params), section="models.<name>.exposure.pretrain",
                                            defaults="definitions.exposure.pretrain")
    loading.set_threads(settings.threads)
    tokenizer = loading.load_tokenizer(base_spec)
    model = loading.load_model(base_spec, dtype="float32")
    docs = split_documents(Path(corpus_path).read_text(encoding="utf-8"))
    torch.manual_seed(int(seed))
    metrics = pretrain(model, tokenizer, docs, settings, int(seed), log=log)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    return metrics
