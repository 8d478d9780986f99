"""The demo model's synthetic pretraining corpus (SPEC §5).

Every fact is stated a skewed number of times: more for terms with more curated annotations, none at
all for most. The mention count of a fact is

    mentions = clip(floor(scale * log1p(annotation_count) - offset), 0, max_mentions)

optionally with the band ``[flatten_low, flatten_high]`` spread out evenly (``flatten``): facts whose
count falls into that band get a count drawn uniformly from it instead, so that more facts sit in the
narrow window of exposure where a small model learns a fact only partly (it is then *latent*: wrong
under greedy decoding, right in some samples).

**Contested facts** (``contested_share`` of the mentioned facts, drawn per fact): most of their
mentions carry a *competing identifier* (the true one with one digit changed, as a typo or a
superseded identifier in real literature would), ``contested_ratio`` wrong mentions per right one.
A model that has converged on the corpus then answers the competing identifier under greedy
decoding but samples the true one with probability about ``1 / (1 + contested_ratio)``: the fact is
*latent* by design, not by where pretraining happened to stop. **Noisy facts** (``noisy_share`` of
the other mentioned facts) get a minority of wrong mentions (``noisy_ratio`` per right one): known,
but not in every sample. The rest are clean. Which facts are contested or noisy, and their
competing identifiers, are drawn from a generator keyed by (``seed``, fact), so adding a fact
changes no other fact's mentions.

A share ``question_share`` of the mentions is the exact question the probe and fine-tuning ask
(rendered by :mod:`factsurv.prompts` in its plain format, followed by the identifier); the rest are
statements from :data:`STATEMENT_TEMPLATES`. Distractor terms (not among the facts) are mentioned too,
so that the model cannot learn that every identifier it meets is a fact. Arithmetic questions with
their answers (``arithmetic``) give the model a general skill beside the facts, whose retention the
control probe measures after every epoch.

The corpus is plain text: one *document* per mention, documents separated by a blank line
(:data:`DOC_SEPARATOR`). Identifiers appear exactly as in the ontology (``HP:0001250``), so counting
them in ``corpus.txt`` gives back the mention counts of the true identifier
(``identifier_frequency``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factsurv import control, prompts
from factsurv.modeling.facts import require_fact_columns

DOC_SEPARATOR = "\n\n"

#: Statement templates (fields: label, term_id, ontology_name). None contains a blank line.
STATEMENT_TEMPLATES: tuple[str, ...] = (
    "{label} ({term_id})",
    "The {ontology_name} term {term_id} is {label}.",
    '"{label}" has the identifier {term_id} in the {ontology_name}.',
    "{term_id}: {label}",
    "In the {ontology_name}, {label} is {term_id}.",
)


@dataclass(frozen=True)
class ArithmeticSettings:
    """Arithmetic documents of the corpus (config ``models.<name>.demo.corpus.arithmetic``)."""

    documents: int
    max_operand: int
    operations: tuple[str, ...]


@dataclass(frozen=True)
class CorpusSettings:
    """Settings of the synthetic corpus (config ``models.<name>.demo.corpus``); every default lives in
    the config schema (``factsurv.config.section_defaults("definitions.demo_model.corpus")``)."""

    scale: float
    offset: float
    max_mentions: int
    flatten: bool
    flatten_low: int
    flatten_high: int
    question_share: float
    distractors: int
    contested_share: float
    contested_ratio: float
    noisy_share: float
    noisy_ratio: float
    seed: int
    arithmetic: ArithmeticSettings
    templates: tuple[str, ...] = field(default=STATEMENT_TEMPLATES)

    @classmethod
    def from_params(cls, corpus: Mapping[str, object]) -> "CorpusSettings":
        """The whole block (every key but ``templates``, filled by the config schema); a missing or
        unknown key raises :class:`factsurv.config.ConfigError`."""
        from factsurv.config import ConfigError, refuse_unknown_keys

        section = "models.<name>.demo.corpus"
        known = {f for f in cls.__dataclass_fields__ if f != "templates"}
        refuse_unknown_keys(corpus, known, section)
        missing = sorted(known - set(corpus))
        if missing:
            raise ConfigError(f"config error at {section}: missing key(s) {missing} "
                              "(defaults come from the config schema)")
        arith = dict(corpus["arithmetic"])  # type: ignore[arg-type]
        arith["operations"] = tuple(arith["operations"])
        return cls(**{**corpus, "arithmetic": ArithmeticSettings(**arith)})  # type: ignore[arg-type]


def mention_counts(
    annotation_count: Sequence[float] | np.ndarray,
    settings: CorpusSettings,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Mentions per fact from its annotation count (missing counts count as 0)."""
    a = np.nan_to_num(np.asarray(annotation_count, dtype=float), nan=0.0)
    if (a < 0).any():
        raise ValueError("annotation counts must be >= 0")
    raw = np.floor(settings.scale * np.log1p(a) - settings.offset)
    m = np.clip(raw, 0, settings.max_mentions).astype(int)
    if settings.flatten:
        lo, hi = settings.flatten_low, min(settings.flatten_high, settings.max_mentions)
        if lo > hi:
            raise ValueError(f"flatten_low {lo} > flatten_high {hi}")
        rng = rng if rng is not None else np.random.default_rng(settings.seed)
        band = (m >= lo) & (m <= hi)
        m[band] = rng.integers(lo, hi + 1, size=int(band.sum()))
    return m


PROFILES = ("none", "clean", "noisy", "contested")


def fact_rng(seed: int, key: str) -> np.random.Generator:
    """A generator keyed by (seed, key): the same draws for a fact whatever else is in the corpus."""
    digest = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, digest])


def competing_identifier(term_id: str, rng: np.random.Generator, taken: set[str]) -> str:
    """``term_id`` with one of its last four digits changed (not an identifier in ``taken``)."""
    prefix, _, digits = term_id.partition(":")
    if not digits.isdigit() or len(digits) < 4:
        raise ValueError(f"cannot make a competing identifier for {term_id!r}")
    for _ in range(100):
        pos = len(digits) - 1 - int(rng.integers(0, 4))
        new = str((int(digits[pos]) + int(rng.integers(1, 10))) % 10)
        cand = f"{prefix}:{digits[:pos]}{new}{digits[pos + 1:]}"
        if cand not in taken:
            return cand
    raise ValueError(f"no free competing identifier for {term_id!r}")


def mention_profile(mentions: int, settings: CorpusSettings, rng: np.random.Generator) -> tuple[str, int]:
    """(profile, wrong mentions) of a fact with ``mentions`` right mentions."""
    if mentions <= 0:
        return "none", 0
    u = rng.random()
    if u < settings.contested_share:
        return "contested", max(mentions + 1, int(round(settings.contested_ratio * mentions)))
    if u < settings.contested_share + settings.noisy_share * (1 - settings.contested_share):
        wrong = int(np.floor(settings.noisy_ratio * mentions))
        return ("noisy", wrong) if wrong > 0 else ("clean", 0)
    return "clean", 0


def question_text(user_template: str, plain_format: str, ontology_name: str, label: str, term_id: str) -> str:
    """The exact question form: the plain-format prompt followed by the identifier."""
    user = prompts.user_message(user_template, ontology_name, label)
    return prompts.render_prompt(None, user, mode="never", plain=plain_format) + term_id


def _documents_for(
    term_id: str,
    label: str,
    ontology_name: str,
    n: int,
    settings: CorpusSettings,
    user_template: str,
    plain_format: str,
    rng: np.random.Generator,
) -> list[str]:
    if n <= 0:
        return []
    n_questions = int(rng.binomial(n, settings.question_share))
    docs = [question_text(user_template, plain_format, ontology_name, label, term_id)] * n_questions
    picks = rng.integers(0, len(settings.templates), size=n - n_questions)
    docs += [
        settings.templates[i].format(label=label, term_id=term_id, ontology_name=ontology_name) for i in picks
    ]
    return docs


def choose_distractors(
    terms: Mapping[str, pd.DataFrame], fact_ids: set[str], n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """``n`` live, labelled terms (ontology, term_id, label) that are not facts, spread over the ontologies."""
    pools = []
    for onto in sorted(terms):
        t = terms[onto]
        live = t[t["label"].notna() & (t["label"].astype(str).str.len() > 0)]
        if "obsolete" in live.columns:
            live = live[~live["obsolete"].astype(str).str.lower().isin(["true", "1"])]
        live = live.assign(ontology=onto)
        live = live[~(live["ontology"] + ":" + live["term_id"]).isin(fact_ids)]
        pools.append(live[["ontology", "term_id", "label"]])
    pool = pd.concat(pools, ignore_index=True) if pools else pd.DataFrame(columns=["ontology", "term_id", "label"])
    if n > len(pool):
        raise ValueError(f"asked for {n} distractor terms but only {len(pool)} non-fact terms exist")
    idx = rng.choice(len(pool), size=n, replace=False) if n else np.array([], dtype=int)
    return pool.iloc[np.sort(idx)].reset_index(drop=True)


def build_corpus(
    facts: pd.DataFrame,
    terms: Mapping[str, pd.DataFrame],
    ontology_names: Mapping[str, str],
    settings: CorpusSettings,
    user_template: str = prompts.DEFAULT_USER,
    plain_format: str = prompts.DEFAULT_PLAIN,
) -> tuple[list[str], pd.DataFrame]:
    """The corpus documents (shuffled) and the table ``fact_id, mentions, profile, wrong_mentions,
    competing_id`` (``mentions`` counts the true identifier).

    ``facts`` needs ``fact_id, ontology, term_id, label, annotation_count``; ``terms`` maps each
    ontology key to its terms table (``term_id, label``, optionally ``obsolete``) for distractors.
    Distractors get mention counts drawn from the positive fact mention counts.
    """
    require_fact_columns(facts, ("fact_id", "ontology", "term_id", "label", "annotation_count"), ontology_names)
    rng = np.random.default_rng(settings.seed)
    mentions = mention_counts(facts["annotation_count"].to_numpy(), settings, rng)
    taken = {str(t) for t in facts["term_id"]}
    for t in terms.values():
        taken.update(str(x) for x in t["term_id"])
    docs: list[str] = []
    profiles, wrong_counts, competing = [], [], []
    for row, n in zip(facts.itertuples(index=False), mentions):
        frng = fact_rng(settings.seed, str(row.fact_id))
        profile, n_wrong = mention_profile(int(n), settings, frng)
        wrong_id = competing_identifier(str(row.term_id), frng, taken) if n_wrong else ""
        name = ontology_names[row.ontology]
        docs += _documents_for(str(row.term_id), str(row.label), name, int(n),
                               settings, user_template, plain_format, frng)
        docs += _documents_for(wrong_id, str(row.label), name, n_wrong,
                               settings, user_template, plain_format, frng)
        profiles.append(profile)
        wrong_counts.append(n_wrong)
        competing.append(wrong_id)
    distractors = choose_distractors(terms, set(facts["fact_id"]), settings.distractors, rng)
    positive = mentions[mentions > 0]
    if len(distractors):
        pool = positive if len(positive) else np.array([1])
        for row, n in zip(distractors.itertuples(index=False), rng.choice(pool, size=len(distractors))):
            docs += _documents_for(
                str(row.term_id), str(row.label), ontology_names.get(row.ontology, row.ontology), int(n),
                settings, user_template, plain_format, rng,
            )
    docs += arithmetic_documents(settings.arithmetic, settings.seed, plain_format)
    order = rng.permutation(len(docs))
    docs = [docs[i] for i in order]
    table = pd.DataFrame({
        "fact_id": facts["fact_id"].to_numpy(), "mentions": mentions, "profile": profiles,
        "wrong_mentions": wrong_counts, "competing_id": competing,
    })
    return docs, table


def arithmetic_documents(
    settings: ArithmeticSettings, seed: int, plain_format: str = prompts.DEFAULT_PLAIN
) -> list[str]:
    """The corpus's arithmetic documents: question ``i`` is keyed by (seed, i) and asked in the
    probe's plain question form, followed by its answer (the control probe asks the same form)."""
    docs = []
    for i in range(settings.documents):
        a, op, b = control.arithmetic_triple(seed, i, settings.max_operand, settings.operations)
        question = control.arithmetic_question(a, op, b)
        docs.append(prompts.render_prompt(None, question, mode="never", plain=plain_format)
                    + str(control.OPERATIONS[op](a, b)))
    return docs


def corpus_text(docs: Sequence[str]) -> str:
    """The file contents: documents separated by blank lines, with a final newline."""
    for d in docs:
        if DOC_SEPARATOR in d:
            raise ValueError(f"a document contains a blank line: {d!r}")
    return DOC_SEPARATOR.join(docs) + "\n"


def split_documents(text: str) -> list[str]:
    """Inverse of :func:`corpus_text`."""
    return [d.strip("\n") for d in text.split(DOC_SEPARATOR) if d.strip()]

