"""The facts a model is asked about: reading results/facts/facts.tsv and rendering its prompts.

Prompt settings come from the config's ``prompt:`` block plus ``ontology_names`` (config key →
name written in the question) and ``prefixes`` (identifier prefixes used to normalise answers).
All rendering goes through :mod:`factsurv.prompts`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from factsurv import prompts
from factsurv.io import InputError, read_tsv

FACT_COLUMNS = ("fact_id", "ontology", "term_id", "label", "split")


@dataclass(frozen=True)
class PromptSettings:
    """How a fact becomes a question (SPEC §1)."""

    ontology_names: dict[str, str]
    user: str = prompts.DEFAULT_USER
    chat_template: str = "auto"
    plain: str = prompts.DEFAULT_PLAIN
    prefixes: tuple[str, ...] = field(default=prompts.DEFAULT_PREFIXES)
    date: str | None = None  # YYYY-MM-DD: the day a chat template that asks for today's date sees

    @classmethod
    def from_params(cls, prompt: dict[str, Any], ontology_names: dict[str, str],
                    prefixes: dict[str, str] | list[str] | None = None) -> "PromptSettings":
        pre = tuple(prefixes.values()) if isinstance(prefixes, dict) else tuple(prefixes or ())
        return cls(
            ontology_names=dict(ontology_names),
            user=prompt.get("user", prompts.DEFAULT_USER),
            chat_template=prompt.get("chat_template", "auto"),
            plain=prompt.get("plain", prompts.DEFAULT_PLAIN),
            prefixes=pre or prompts.DEFAULT_PREFIXES,
            date=prompt.get("date"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"ontology_names": self.ontology_names, "user": self.user,
                "chat_template": self.chat_template, "plain": self.plain,
                "prefixes": list(self.prefixes), "date": self.date}


def read_facts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """facts.tsv with the columns the model stage needs (fact_id unique)."""
    df = read_tsv(path, FACT_COLUMNS, dtype={"fact_id": str, "term_id": str, "label": str})
    dup = df["fact_id"][df["fact_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: duplicate fact_id(s) {sorted(set(dup))[:5]}")
    return df


def train_facts(facts: pd.DataFrame, source: str = "facts.tsv") -> pd.DataFrame:
    """The trained facts (split == train); an empty training split is an error."""
    train = facts[facts["split"] == "train"].reset_index(drop=True)
    if train.empty:
        raise InputError(
            f"{source}: the training split is empty (no row with split == 'train' among "
            f"{len(facts)} facts); set sample.counts.<onto>.train > 0"
        )
    return train


def render_prompts(tokenizer: Any, facts: pd.DataFrame, settings: PromptSettings) -> list[str]:
    """The prompt text (up to where the answer starts) for every fact, in table order."""
    out = []
    for onto, label in zip(facts["ontology"], facts["label"]):
        if onto not in settings.ontology_names:
            raise InputError(f"facts: ontology {onto!r} has no name in the prompt settings "
                             f"(known: {sorted(settings.ontology_names)})")
        user = prompts.user_message(settings.user, settings.ontology_names[onto], label)
        out.append(prompts.render_prompt(tokenizer, user, settings.chat_template, settings.plain, settings.date))
    return out


def split_trailing_space(tokenizer: Any, prompt: str, settings: PromptSettings) -> tuple[str, str]:
    """(prompt, lead): in the plain format the prompt's trailing whitespace (``Answer: ``) is moved
    to the start of the answer, so the ids the model sees are the ones the text ``Answer: HP:…``
    tokenises to (byte-level BPE and SentencePiece attach a space to the following word). A chat
    template's prompt is left as it is."""
    if prompts.uses_chat_template(tokenizer, settings.chat_template):
        return prompt, ""
    stripped = prompt.rstrip(" ")
    return stripped, prompt[len(stripped):]


def encode_prompt(tokenizer: Any, prompt: str, settings: PromptSettings) -> list[int]:
    """Token ids of a rendered prompt (see :func:`split_trailing_space`); a chat template already
    carries its special tokens."""
    chat = prompts.uses_chat_template(tokenizer, settings.chat_template)
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
