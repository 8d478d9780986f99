"""Out-of-domain control items (arXiv 2601.03858): a general skill whose retention
is measured beside the facts after every epoch.

Arithmetic items are single-operation questions ``What is 17 + 25?`` with an integer answer, drawn from
a generator keyed by (seed, item index), so the same seed and size give the same items on every
machine. The demo model's corpus states such questions with their answers (``arithmetic`` in the
corpus settings), so that the demo model has the skill before fine-tuning; a chat model has it from
its own pretraining.

An answer is right when its first integer equals the gold answer (a sign and digits; ``42.`` and
`` 42 apples`` count, ``420`` and ``4 2`` do not). An instruct model often restates the question
as an equation (SmolLM2: ``2 + 2 = 4``): an answer that begins with the operation written out and
``=`` is read after the ``=``.

Multiple-choice items (MMLU-style) come from a local file the user supplies (config
``control.multiple_choice.path``; nothing is downloaded), see :func:`read_multiple_choice`; the
question shows the choices as lines ``A. …`` and an answer is right when its first stand-alone
choice letter is the gold letter. :func:`control_items` builds the whole item table from the
``control:`` config block.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factsurv import prompts
from factsurv.io import InputError
from factsurv.tables import CONTROL_ITEM_COLUMNS

#: The question of one item; {a}, {op}, {b} are filled in.
DEFAULT_ARITHMETIC_TEMPLATE = "What is {a} {op} {b}?"
OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
ITEM_COLUMNS = CONTROL_ITEM_COLUMNS
#: the kinds of control item (out-of-domain probes), each scored its own way
CONTROL_KINDS = ("arithmetic", "multiple_choice")
#: The question of a multiple-choice item; {question} and {choices} (lines ``A. …``) are filled in.
DEFAULT_MC_TEMPLATE = "{question}\n{choices}\nAnswer with the letter of the correct choice only."
LETTERS = "ABCDEFGHIJ"

_INTEGER = re.compile(r"(?<![\d.])-?\d+(?!\d|\.\d)")


def arithmetic_question(a: int, op: str, b: int, template: str = DEFAULT_ARITHMETIC_TEMPLATE) -> str:
    return prompts.fill(template, "control.arithmetic.template", a=a, op=op, b=b)


def _check(operations: Sequence[str], max_operand: int) -> None:
    bad = sorted(set(operations) - set(OPERATIONS))
    if bad or not operations:
        raise ValueError(f"arithmetic operations must be a non-empty subset of {sorted(OPERATIONS)}, got {list(operations)}")
    if max_operand < 1:
        raise ValueError(f"arithmetic max_operand must be >= 1, got {max_operand}")


def arithmetic_triple(seed: int, i: int, max_operand: int, operations: Sequence[str]) -> tuple[int, str, int]:
    """Draw *i* (a, op, b), operands in [0, max_operand]: it depends only on (seed, i), so a longer
    list starts with the shorter one. Subtraction keeps a >= b (no negative answers)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xA417, i])
    a, b = (int(x) for x in rng.integers(0, max_operand + 1, size=2))
    op = operations[int(rng.integers(0, len(operations)))]
    if op == "-" and b > a:
        a, b = b, a
    return a, op, b


def arithmetic_items(
    seed: int, n: int, max_operand: int, operations: Sequence[str] = ("+",),
    template: str = DEFAULT_ARITHMETIC_TEMPLATE,
) -> pd.DataFrame:
    """The control table ``item_id, kind, question, answer`` of ``n`` distinct arithmetic items
    (fewer when the operand range holds fewer distinct questions), in draw order."""
    _check(operations, max_operand)
    side = max_operand + 1
    distinct = sum(side * (side + 1) // 2 if op == "-" else side * side for op in set(operations))
    want = min(n, distinct)
    rows: list[tuple[str, str, str, str]] = []
    seen: set[tuple[int, str, int]] = set()
    i = 0
    while len(rows) < want:
        a, op, b = arithmetic_triple(seed, i, max_operand, operations)
        i += 1
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        rows.append((f"arith:{len(rows):04d}", "arithmetic", arithmetic_question(a, op, b, template),
                     str(OPERATIONS[op](a, b))))
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))


def first_integer(text: str | None) -> str | None:
    """The first integer in ``text`` (as written, leading zeros dropped), or None."""
    if not text:
        return None
    m = _INTEGER.search(text)
    return None if m is None else str(int(m.group(0)))


_RESTATED = re.compile(r"^\s*-?\d+\s*[-+*x×]\s*-?\d+\s*=")


def answer_integer(text: str | None) -> str | None:
    """The integer an answer gives: the first one, or the first after ``=`` when the answer begins by
    restating the operation (``7 + 4 = 11`` → 11)."""
    if text:
        m = _RESTATED.match(text)
        if m is not None:
            return first_integer(text[m.end():])
    return first_integer(text)


def number_correct(text: str | None, gold: str) -> bool:
    """Exact match of the answer's integer (:func:`answer_integer`) with ``gold``."""
    got = answer_integer(text)
    return got is not None and got == str(int(gold))


# ---- multiple choice -------------------------------------------------------------------------------

def _letter(answer: Any, n_choices: int, where: str) -> str:
    """The gold letter from ``B``/``b``/``(B)`` or a 0-based index ``1``."""
    text = str(answer).strip().strip("().").upper()
    if text.isdigit():
        i = int(text)
        if i >= n_choices:
            raise InputError(f"{where}: answer index {i} is out of range for {n_choices} choices (0-based)")
        return LETTERS[i]
    if len(text) != 1 or text not in LETTERS[:n_choices]:
        raise InputError(f"{where}: answer {answer!r} is not one of the letters {', '.join(LETTERS[:n_choices])}")
    return text


def _mc_item(question: Any, choices: Sequence[Any], answer: Any, where: str) -> tuple[str, list[str], str]:
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: empty or missing question")
    choices = [str(c).strip() if c is not None else "" for c in choices]
    if not 2 <= len(choices) <= len(LETTERS):
        raise InputError(f"{where}: {len(choices)} choices; expected 2 to {len(LETTERS)}")
    if any(not c for c in choices):
        raise InputError(f"{where}: an empty choice")
    return question.strip(), choices, _letter(answer, len(choices), where)


def _read_jsonl(path: Path) -> list[tuple[str, list[str], str]]:
    items = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where}: expected a JSON object with question, choices, answer")
            missing = [k for k in ("question", "choices", "answer") if k not in obj]
            if missing:
                raise InputError(f"{where}: missing key(s) {missing} (expected question, choices, answer)")
            if not isinstance(obj["choices"], list):
                raise InputError(f"{where}: choices must be a list of strings")
            items.append(_mc_item(obj["question"], obj["choices"], obj["answer"], where))
    return items


def _read_delimited(path: Path) -> list[tuple[str, list[str], str]]:
    """CSV/TSV with a header ``question, A, B, …, answer`` (choice columns named by consecutive
    letters from A), or without a header in MMLU's layout: question, the choices, the answer letter."""
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter))
    items = []
    header = [c.strip() for c in rows[0]] if rows else []
    lowered = [c.lower() for c in header]
    if "question" in lowered and "answer" in lowered:
        qi, ai = lowered.index("question"), lowered.index("answer")
        cols = []
        for letter in LETTERS:
            if letter not in header:
                break
            cols.append(header.index(letter))
        if len(cols) < 2:
            raise InputError(f"{path}, line 1: header {header} has no choice columns A, B, … "
                             "(expected question, A, B, …, answer)")
        body, first = rows[1:], 2
    else:
        qi = ai = -1
        cols = []
        body, first = rows, 1
    for line_no, row in enumerate(body, start=first):
        if not any(c.strip() for c in row):
            continue
        where = f"{path}, line {line_no}"
        if cols:
            if len(row) != len(header):
                raise InputError(f"{where}: {len(row)} fields; the header has {len(header)}")
            items.append(_mc_item(row[qi], [row[c] for c in cols], row[ai], where))
        else:
            if len(row) < 4:
                raise InputError(f"{where}: {len(row)} fields; expected question, at least 2 choices, answer "
                                 "(or a header line question, A, B, …, answer)")
            items.append(_mc_item(row[0], row[1:-1], row[-1], where))
    return items


def read_multiple_choice(path: str | os.PathLike[str]) -> list[tuple[str, list[str], str]]:
    """(question, choices, gold letter) per item of a local MMLU-style file: JSON lines
    (``.jsonl``/``.json``: ``{"question": …, "choices": [...], "answer": "B" or 1}``) or CSV/TSV
    (see :func:`_read_delimited`). Errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: multiple-choice file not found (config control.multiple_choice.path)")
    items = _read_jsonl(p) if p.suffix.lower() in (".jsonl", ".json", ".ndjson") else _read_delimited(p)
    if not items:
        raise InputError(f"{p}: no multiple-choice items")
    return items


def mc_question(question: str, choices: Sequence[str], template: str = DEFAULT_MC_TEMPLATE) -> str:
    lines = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    try:
        return template.format(question=question, choices=lines)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"config error at control.multiple_choice.template {template!r}: {type(exc).__name__}: {exc}; "
            "allowed placeholders: {question}, {choices}"
        ) from None


def multiple_choice_items(path: str | os.PathLike[str], limit: int | None = None,
                          template: str = DEFAULT_MC_TEMPLATE) -> pd.DataFrame:
    """The item table of a multiple-choice file (its first ``limit`` items; None: all), in file order."""
    items = read_multiple_choice(path)[: limit if limit is not None else None]
    rows = [(f"mc:{i:04d}", "multiple_choice", mc_question(q, ch, template), gold)
            for i, (q, ch, gold) in enumerate(items)]
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS))


_CHOICE_LINE = re.compile(r"^([A-J])\. ", re.M)


def choice_count(question: str) -> int:
    """How many choice lines ``A. …`` a rendered multiple-choice question has."""
    return len(_CHOICE_LINE.findall(question))


def first_letter(text: str | None, n_choices: int = 4) -> str | None:
    """The first stand-alone choice letter (A … the n-th letter) in ``text``: ``B``, ``(B)``,
    ``B. Paris``, ``The answer is B``; the ``A`` of ``A cat`` counts too, as a stand-alone letter."""
    if not text:
        return None
    valid = LETTERS[:max(2, min(n_choices, len(LETTERS)))]
    m = re.search(rf"(?<![A-Za-z])([{valid}])(?![A-Za-z])", text)
    return None if m is None else m.group(1)


def letter_correct(text: str | None, gold: str, n_choices: int = 4) -> bool:
    return first_letter(text, n_choices) == gold.strip().upper()


def is_correct(kind: str, text: str | None, gold: str, question: str = "") -> bool:
    """Exact-match scoring of one control item by its kind."""
    if kind == "arithmetic":
        return number_correct(text, gold)
    if kind == "multiple_choice":
        return letter_correct(text, gold, choice_count(question) or 4)
    raise ValueError(f"unknown control item kind {kind!r} (known: {', '.join(CONTROL_KINDS)})")


def chance_level(items: pd.DataFrame) -> float:
    """Accuracy of guessing: 1 / distinct answers for arithmetic items, the mean 1 / choices for
    multiple-choice items (the items of one kind)."""
    if items.empty:
        return float("nan")
    kind = str(items["kind"].iloc[0])
    if kind == "arithmetic":
        return 1.0 / items["answer"].astype(str).nunique()
    return float(np.mean([1.0 / max(choice_count(q), 1) for q in items["question"]]))


def control_items(settings: Mapping[str, Any]) -> pd.DataFrame:
    """The control item table from the config block ``control`` (arithmetic items, then the
    multiple-choice items of ``multiple_choice.path`` when it is set); ids are unique."""
    ar = settings["arithmetic"]
    parts = []
    if int(ar["items"]) > 0:
        parts.append(arithmetic_items(int(ar["seed"]), int(ar["items"]), int(ar["max_operand"]),
                                      tuple(ar["operations"]), ar["template"]))
    mc = settings["multiple_choice"]
    if mc.get("path"):
        parts.append(multiple_choice_items(mc["path"], mc.get("limit"), mc["template"]))
    if not parts:
        raise ValueError("config error at control: no control items (control.arithmetic.items is 0 and "
                         "control.multiple_choice.path is not set); set control.enabled: false instead")
    return pd.concat(parts, ignore_index=True)[list(ITEM_COLUMNS)]
