import pytest

from factsurv.prompts import (
    DEFAULT_PLAIN,
    DEFAULT_USER,
    is_correct,
    normalize_answer,
    render_prompt,
    user_message,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HP:0001250", "HP:0001250"),
        ("The answer is hp: 0001250.", "HP:0001250"),
        ("GO:0005634 and HP:0001250", "GO:0005634"),
        ("HP:000125", None),  # six digits is no identifier
        ("", None),
        (None, None),
        ("Seizure", None),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_is_correct_exact_match_only():
    assert is_correct(" hp:0001250<eos>", "HP:0001250")
    assert not is_correct("HP:0001251", "HP:0001250")


def test_digit_boundary():
    # an eighth digit makes another (wrong) identifier, not HP:0001250 with a tail
    assert normalize_answer("HP:00012509") is None
    assert not is_correct("HP:00012501", "HP:0001250")
    assert not is_correct("HP:000125", "HP:0001250")
    assert is_correct("HP: 0001250.", "HP:0001250")
    assert is_correct("HP:0001250 (Seizure)", "HP:0001250")


def test_plain_prompt_when_no_chat_template():
    class Tok:
        chat_template = None

    user = user_message(DEFAULT_USER, "Human Phenotype Ontology", "Seizure")
    assert user == 'What is the Human Phenotype Ontology identifier for "Seizure"? Answer with the identifier only.'
    assert render_prompt(Tok(), user, "auto", DEFAULT_PLAIN) == f"Question: {user}\nAnswer: "
    with pytest.raises(ValueError, match="no chat template"):
        render_prompt(Tok(), user, "always", DEFAULT_PLAIN)


def test_chat_template_used_when_present():
    class Tok:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert not tokenize and add_generation_prompt
            return "<user>" + messages[0]["content"] + "<assistant>"

    assert render_prompt(Tok(), "Q?", "auto") == "<user>Q?<assistant>"
    assert render_prompt(Tok(), "Q?", "never") == "Question: Q?\nAnswer: "
