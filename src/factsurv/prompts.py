"""Prompts and answers: the one place that decides what the model is asked and what counts as right.

SPEC §1: the user turn is ``What is the {ontology name} identifier for "{label}"? Answer with the
identifier only.``; the model's chat template is used when it has one (``chat_template: auto``),
otherwise the plain format ``Question: {user}\\nAnswer: ``. The target is the bare identifier
(``HP:0001250``) followed by the end-of-sequence token; loss is on the target tokens only.

Chat templates that write today's date into the prompt (Llama 3.1 reads ``date_string``; others
call ``strftime_now``) get a fixed date instead (``prompt.date``), so a prompt is the same whichever
day its job runs.

Answers are normalised by taking the first match of ``PREFIX:\\s*\\d{7}`` not followed by another
digit (case-insensitive), upper-casing it and removing whitespace; anything else is wrong, so
``HP:00012501`` (eight digits) and ``HP:000125`` (six) are wrong answers for ``HP:0001250``.

Every stage asks through this module: :class:`PromptSettings` (the config's ``prompt:`` block plus
``ontology_names`` and the identifier ``prefixes``), :func:`render_prompts` (facts → prompt text),
:func:`encode_prompt` / :func:`encode_target` / :func:`encode_statement` (text → token ids, with
:func:`split_trailing_space` deciding where the answer's leading space goes) and
:func:`normalize_answer` / :func:`is_correct` (answer → right or wrong).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from factsurv.io import InputError

DEFAULT_USER = 'What is the {ontology_name} identifier for "{label}"? Answer with the identifier only.'
DEFAULT_PLAIN = "Question: {user}\nAnswer: "
DEFAULT_PREFIXES = ("HP", "GO")


def fill(template: str, where: str, **values: object) -> str:
    """``template`` filled with ``values``; a template with other placeholders gets a ValueError
    naming the config key ``where`` and the allowed placeholders (the pre-flight stops such a config
    before any job)."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        allowed = ", ".join("{" + k + "}" for k in values)
        raise ValueError(
            f"config error at {where}: {template!r} cannot be filled ({type(exc).__name__}: {exc}); "
            f"allowed placeholders: {allowed}"
        ) from None


def user_message(template: str, ontology_name: str, label: str) -> str:
    """The question for one fact (``prompt.user``)."""
    return fill(template, "prompt.user", ontology_name=ontology_name, label=label)


def statement(template: str, ontology_name: str, label: str, identifier: str) -> str:
    """A fact written as a sentence (``design.statements``: placeholders {ontology_name}, {label}, {id})."""
    return fill(template, "design.statements", ontology_name=ontology_name, label=label, id=identifier)


def uses_chat_template(tokenizer: Any, mode: str) -> bool:
    """Whether prompts go through the tokenizer's chat template (mode: auto | always | never)."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if mode == "always" and not has:
        raise ValueError("prompt.chat_template is 'always' but the tokenizer has no chat template")
    return mode == "always" or (mode == "auto" and has)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_date(date: str) -> dt.datetime:
    """``prompt.date`` (``YYYY-MM-DD``) as midnight of that day (ValueError naming the key otherwise)."""
    try:
        return dt.datetime.strptime(str(date), "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"config error at prompt.date: {date!r} is not a date YYYY-MM-DD") from None


# strftime directives a template may ask strftime_now for (glibc's %-d / %-m too)
_DIRECTIVES = ("%-d", "%-m", "%a", "%A", "%b", "%B", "%d", "%m", "%y", "%Y", "%H", "%I", "%M", "%S", "%p",
               "%j", "%Z", "%z", "%%")

# shadows transformers' strftime_now (which reads the clock): the fixed day's fields, substituted in
# the format (template data must be plain strings, so the function itself cannot be passed in)
_FIXED_STRFTIME = (
    "{%- macro strftime_now(format) -%}{%- set ns = namespace(s=format) -%}"
    "{%- for key, value in factsurv_strftime -%}{%- set ns.s = ns.s.replace(key, value) -%}{%- endfor -%}"
    "{{- ns.s -}}{%- endmacro -%}"
)


def date_variables(date: str) -> dict[str, Any]:
    """Template data that fixes the date a chat template sees: ``date_string`` (Llama 3.1's variable,
    written ``26 Jul 2024`` whatever the locale) and the fixed day's strftime fields, which the
    ``strftime_now`` of :func:`fixed_date_template` formats."""
    day = parse_date(date)
    fields = {d: day.strftime(d) for d in _DIRECTIVES if not d.startswith("%-")}
    fields.update({"%-d": str(day.day), "%-m": str(day.month), "%a": day.strftime("%a"),
                   "%b": _MONTHS[day.month - 1], "%p": "AM", "%Z": "UTC", "%z": "+0000", "%%": "%"})
    # longest directives first, so %-d is replaced before %d could match inside it; %% last
    ordered = sorted((k for k in fields if k != "%%"), key=len, reverse=True) + ["%%"]
    return {"date_string": f"{day.day:02d} {_MONTHS[day.month - 1]} {day.year}",
            "factsurv_strftime": [[k, fields[k]] for k in ordered]}


def fixed_date_template(template: str) -> str:
    """``template`` with a ``strftime_now`` that returns the fixed day (from :func:`date_variables`)
    instead of reading the clock."""
    return _FIXED_STRFTIME + template


def _chat_template(tokenizer: Any) -> str | None:
    getter = getattr(tokenizer, "get_chat_template", None)
    if getter is not None:
        try:
            return getter()
        except (TypeError, ValueError):
            return None
    template = getattr(tokenizer, "chat_template", None)
    return template if isinstance(template, str) else None


def render_prompt(tokenizer: Any, user: str, mode: str = "auto", plain: str = DEFAULT_PLAIN,
                  date: str | None = None) -> str:
    """The text the model sees before its answer (generation prompt included); a chat template is
    rendered with the fixed ``date`` (``YYYY-MM-DD``, config ``prompt.date``) when one is given."""
    if tokenizer is not None and uses_chat_template(tokenizer, mode):
        extra: dict[str, Any] = {}
        if date is not None:
            extra = date_variables(date)
            template = _chat_template(tokenizer)
            if template is not None:
                extra["chat_template"] = fixed_date_template(template)
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True, **extra
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


@dataclass(frozen=True)
class PromptSettings:
    """How a fact becomes a question (SPEC §1): the config's ``prompt:`` block, the ontologies'
    names and identifier prefixes. No defaults here: :meth:`from_params` fills what the block leaves
    out from the config schema."""

    ontology_names: dict[str, str]
    user: str
    chat_template: str
    plain: str
    prefixes: tuple[str, ...]
    date: str | None  # YYYY-MM-DD: the day a chat template that asks for today's date sees (None: the clock)

    @classmethod
    def from_params(cls, prompt: dict[str, Any], ontology_names: dict[str, str],
                    prefixes: dict[str, str] | list[str] | None = None) -> "PromptSettings":
        """``prompt`` filled from the schema's ``prompt`` defaults, except ``date``: a block without
        one leaves the chat template to read the clock (every rule passes ``prompt.date``);
        ``prefixes`` (the ontologies' identifier prefixes, ``{onto: prefix}`` or a list) default to
        HP and GO. An unknown key raises :class:`factsurv.config.ConfigError`."""
        from factsurv.config import refuse_unknown_keys, section_defaults

        refuse_unknown_keys(prompt, ("user", "chat_template", "plain", "date"), "prompt")
        values = {**section_defaults("prompt"), "date": None, **prompt}
        pre = tuple(prefixes.values()) if isinstance(prefixes, dict) else tuple(prefixes or ())
        return cls(ontology_names=dict(ontology_names), user=values["user"], chat_template=values["chat_template"],
                   plain=values["plain"], prefixes=pre or DEFAULT_PREFIXES, date=values["date"])

    def as_dict(self) -> dict[str, Any]:
        return {"ontology_names": self.ontology_names, "user": self.user,
                "chat_template": self.chat_template, "plain": self.plain,
                "prefixes": list(self.prefixes), "date": self.date}


def render_user(tokenizer: Any, user: str, settings: PromptSettings) -> str:
    """One user turn (a fact's question or a control item) in the run's prompt format: chat template
    or ``plain``, with the fixed date."""
    return render_prompt(tokenizer, user, settings.chat_template, settings.plain, settings.date)


def render_prompts(tokenizer: Any, facts: Any, settings: PromptSettings) -> list[str]:
    """The prompt text (up to where the answer starts) for every fact, in table order."""
    out = []
    for onto, label in zip(facts["ontology"], facts["label"]):
        if onto not in settings.ontology_names:
            raise InputError(f"facts: ontology {onto!r} has no name in the prompt settings "
                             f"(known: {sorted(settings.ontology_names)})")
        out.append(render_user(tokenizer, user_message(settings.user, settings.ontology_names[onto], label), settings))
    return out


def split_trailing_space(tokenizer: Any, prompt: str, settings: PromptSettings) -> tuple[str, str]:
    """(prompt, lead): in the plain format the prompt's trailing whitespace (``Answer: ``) is moved
    to the start of the answer, so the ids the model sees are the ones the text ``Answer: HP:…``
    tokenises to (byte-level BPE and SentencePiece attach a space to the following word). A chat
    template's prompt is left as it is."""
    if uses_chat_template(tokenizer, settings.chat_template):
        return prompt, ""
    stripped = prompt.rstrip(" ")
    return stripped, prompt[len(stripped):]


def encode_prompt(tokenizer: Any, prompt: str, settings: PromptSettings) -> list[int]:
    """Token ids of a rendered prompt (see :func:`split_trailing_space`); a chat template already
    carries its special tokens."""
    chat = uses_chat_template(tokenizer, settings.chat_template)
    text, _ = split_trailing_space(tokenizer, prompt, settings)
    return tokenizer(text, add_special_tokens=not chat)["input_ids"]


def encode_statement(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a statement trained as plain text: the tokenizer's special tokens (BOS), the
    text, then EOS (no chat template: a statement is a document, not a turn)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids = ids + [tokenizer.eos_token_id]
    return ids


def encode_target(tokenizer: Any, target: str, lead: str = "") -> list[int]:
    """Token ids of the answer (``lead`` + the bare identifier) followed by EOS."""
    ids = tokenizer(lead + target, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    return ids
