"""Prompts and answers: the one place that decides what the model is asked and what counts as right.

SPEC §1: the user turn is ``What is the {ontology name} identifier for "{label}"? Answer with the
identifier only.``; the model's chat template is used when it has one (``chat_template: auto``),
otherwise the plain format ``Question: {user}\\nAnswer: ``. The target is the bare identifier
(``HP:0001250``) followed by the end-of-sequence token; loss is on the target tokens only.

Answers are normalised by taking the first match of ``PREFIX:\\s*\\d{7}`` not followed by another
digit (case-insensitive), upper-casing it and removing whitespace; anything else is wrong, so
``HP:00012501`` (eight digits) and ``HP:000125`` (six) are wrong answers for ``HP:0001250``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

DEFAULT_USER = 'What is the {ontology_name} identifier for "{label}"? Answer with the identifier only.'
DEFAULT_PLAIN = "Question: {user}\nAnswer: "
DEFAULT_PREFIXES = ("HP", "GO")


def user_message(template: str, ontology_name: str, label: str) -> str:
    """The question for one fact (a template with other placeholders: ValueError naming prompt.user;
    the pre-flight stops such a config before any job)."""
    try:
        return template.format(ontology_name=ontology_name, label=label)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"config error at prompt.user: {template!r} cannot be filled ({type(exc).__name__}: {exc}); "
            "allowed placeholders: {ontology_name}, {label}"
        ) from None


def statement(template: str, ontology_name: str, label: str, identifier: str) -> str:
    """A fact written as a sentence (``design.statements``: placeholders {ontology_name}, {label}, {id})."""
    try:
        return template.format(ontology_name=ontology_name, label=label, id=identifier)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"config error at design.statements: {template!r} cannot be filled ({type(exc).__name__}: {exc}); "
            "allowed placeholders: {ontology_name}, {label}, {id}"
        ) from None


def uses_chat_template(tokenizer: Any, mode: str) -> bool:
    """Whether prompts go through the tokenizer's chat template (mode: auto | always | never)."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if mode == "always" and not has:
        raise ValueError("prompt.chat_template is 'always' but the tokenizer has no chat template")
    return mode == "always" or (mode == "auto" and has)


def render_prompt(tokenizer: Any, user: str, mode: str = "auto", plain: str = DEFAULT_PLAIN) -> str:
    """The text the model sees before its answer (generation prompt included)."""
    if tokenizer is not None and uses_chat_template(tokenizer, mode):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
        )
    return plain.format(user=user)


@lru_cache(maxsize=32)
def answer_pattern(prefixes: tuple[str, ...] = DEFAULT_PREFIXES) -> re.Pattern[str]:
    alts = "|".join(re.escape(p) for p in sorted(set(prefixes), key=len, reverse=True))
    return re.compile(rf"({alts})\s*:\s*(\d{{7}})(?!\d)", re.IGNORECASE)


def normalize_answer(text: str | None, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> str | None:
    """The first identifier in ``text`` as ``PREFIX:NNNNNNN``, or None when there is none."""
    if not text:
        return None
    m = answer_pattern(tuple(prefixes)).search(text)
    if m is None:
        return None
    return f"{m.group(1).upper()}:{m.group(2)}"


def is_correct(text: str | None, gold: str, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> bool:
    """Exact match of the normalised answer with the gold identifier."""
    return normalize_answer(text, prefixes) == gold.strip().upper()
