"""Out-of-domain control items (issue 13; seed 003, arXiv 2601.03858): a general skill whose retention
is measured beside the facts after every epoch.

Arithmetic items are single-operation questions ``What is 17 + 25?`` with an integer answer, drawn from
a generator keyed by (seed, item index), so the same seed and size give the same items on every
machine. The demo model's corpus states such questions with their answers (``arithmetic`` in the
corpus settings), so that the demo model has the skill before fine-tuning; a chat model has it from
its own pretraining.

An answer is right when the first integer in the model's text equals the gold answer (a sign and
digits; ``42.`` and `` 42 apples`` count, ``420`` and ``4 2`` do not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The question of one item; {a}, {op}, {b} are filled in.
DEFAULT_ARITHMETIC_TEMPLATE = "What is {a} {op} {b}?"
OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
ITEM_COLUMNS = ("item_id", "kind", "question", "answer")

_INTEGER = re.compile(r"(?<![\d.])-?\d+(?!\d|\.\d)")


def arithmetic_question(a: int, op: str, b: int, template: str = DEFAULT_ARITHMETIC_TEMPLATE) -> str:
    try:
        return template.format(a=a, op=op, b=b)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"config error at arithmetic template {template!r}: {type(exc).__name__}: {exc}; "
            "allowed placeholders: {a}, {op}, {b}"
        ) from None


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


def number_correct(text: str | None, gold: str) -> bool:
    """Exact match of the first integer of ``text`` with ``gold``."""
    got = first_integer(text)
    return got is not None and got == str(int(gold))
