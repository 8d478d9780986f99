"""Out-of-domain control items: the arithmetic generator and exact-match scoring."""

from __future__ import annotations

import pytest

from factsurv import control


def test_arithmetic_items_fixed_seed_distinct_and_right():
    a = control.arithmetic_items(seed=7, n=50, max_operand=30, operations=("+", "-", "*"))
    b = control.arithmetic_items(seed=7, n=50, max_operand=30, operations=("+", "-", "*"))
    assert a.equals(b)
    assert list(a.columns) == list(control.ITEM_COLUMNS)
    assert a["question"].is_unique and a["item_id"].is_unique
    for q, ans in zip(a["question"], a["answer"]):
        x, op, y = q.removeprefix("What is ").removesuffix("?").split(" ")
        assert str(control.OPERATIONS[op](int(x), int(y))) == ans
        assert int(ans) >= 0  # subtraction keeps a >= b
    # a longer list starts with the shorter one; another seed gives other items
    longer = control.arithmetic_items(seed=7, n=80, max_operand=30, operations=("+", "-", "*"))
    assert longer.iloc[:50].equals(a)
    assert not control.arithmetic_items(seed=8, n=50, max_operand=30, operations=("+", "-", "*")).equals(a)


def test_arithmetic_items_capped_at_the_distinct_questions():
    t = control.arithmetic_items(seed=0, n=1000, max_operand=2, operations=("+", "-"))
    assert len(t) == 9 + 6  # 3x3 sums, 6 differences with a >= b
    assert t["question"].is_unique


def test_arithmetic_template_and_bad_settings():
    t = control.arithmetic_items(seed=0, n=3, max_operand=9, template="Compute {a} {op} {b}. Answer with the number only.")
    assert t["question"].str.startswith("Compute ").all()
    with pytest.raises(ValueError, match="allowed placeholders"):
        control.arithmetic_items(seed=0, n=3, max_operand=9, template="{x}")
    with pytest.raises(ValueError, match="operations"):
        control.arithmetic_items(seed=0, n=3, max_operand=9, operations=("/",))


@pytest.mark.parametrize(("text", "gold", "ok"), [
    ("42", "42", True), (" 42.", "42", True), ("The answer is 42 apples", "42", True),
    ("420", "42", False), ("4 2", "42", False), ("", "42", False), (None, "42", False),
    ("-3", "-3", True), ("3.5", "3", False), ("042", "42", True), ("41 or 42", "42", False),
    # an instruct model's restated equation (SmolLM2) is read after its "="
    ("7 + 4 = 11", "11", True), ("7 + 4 = 11", "7", False), ("2 + 6 = 10", "8", False),
    ("12 - 5 = 7.", "7", True), ("3 * 4 = 12", "12", True), ("4 = 4", "4", True), ("7 + 4 is 11", "7", True),
])
def test_number_scoring_is_exact_on_the_first_integer(text, gold, ok):
    assert control.number_correct(text, gold) is ok
