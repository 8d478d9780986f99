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

        def apply_chat_template(self, messages, tokenize, add_generation_prompt, **variables):
            assert not tokenize and add_generation_prompt
            return "<user>" + messages[0]["content"] + "<assistant>" + variables.get("date_string", "")

    assert render_prompt(Tok(), "Q?", "auto") == "<user>Q?<assistant>"
    assert render_prompt(Tok(), "Q?", "never") == "Question: Q?\nAnswer: "
    assert render_prompt(Tok(), "Q?", "auto", date="2024-07-26") == "<user>Q?<assistant>26 Jul 2024"


# a Llama-3.2-like template: today's date from strftime_now unless date_string is given, and the
# clock once more (the day and time) through strftime_now
DATED_TEMPLATE = (
    "{% macro stamp() %}{{ strftime_now('%Y-%m-%d %H:%M:%S') }}{% endmacro %}"
    "{% if date_string is not defined %}{% set date_string = strftime_now('%d %b %Y') %}{% endif %}"
    "<sys>Today Date: {{ date_string }} (rendered {{ stamp() }}, {{ strftime_now('%-d %B') }})</sys>"
    "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def _dated_tokenizer(tmp_path):
    """A tiny tokenizer (no downloads) whose chat template reads today's date."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = DATED_TEMPLATE
    fast.save_pretrained(tmp_path / "tok")
    return PreTrainedTokenizerFast.from_pretrained(tmp_path / "tok")


def _on_day(monkeypatch, day):
    """Make the clock transformers' strftime_now reads say ``day``."""
    import datetime as dt

    import transformers.utils.chat_template_utils as ctu

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(day.year, day.month, day.day, 13, 37, 0)

    monkeypatch.setattr(ctu, "datetime", Clock)


def test_chat_template_date_is_fixed_whatever_the_day(tmp_path, monkeypatch):
    import datetime as dt

    import pandas as pd

    from factsurv.prompts import PromptSettings, render_prompts

    tok = _dated_tokenizer(tmp_path)
    facts = pd.DataFrame({"ontology": ["hpo"], "label": ["Seizure"]})
    fixed = PromptSettings.from_params({"date": "2024-07-26"}, {"hpo": "Human Phenotype Ontology"})
    unfixed = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology"})
    seen = {}
    for day in (dt.date(2026, 12, 1), dt.date(2027, 3, 9)):
        _on_day(monkeypatch, day)
        seen[day] = (render_prompt(tok, "Q?", "auto", date="2024-07-26"), render_prompts(tok, facts, fixed)[0],
                     render_prompt(tok, "Q?", "auto"), render_prompts(tok, facts, unfixed)[0])
    first, second = seen.values()
    # with the date fixed, two jobs on different days render the same prompt, with the fixed day
    assert first[:2] == second[:2]
    assert "Today Date: 26 Jul 2024 (rendered 2024-07-26 00:00:00, 26 July)" in first[0]
    assert first[0].endswith("<user>Q?</user><assistant>")
    # without it the template reads the clock: the prompts differ (so this test can fail)
    assert first[2] != second[2] and first[3] != second[3]
    assert "01 Dec 2026" in first[2] and "09 Mar 2027" in second[2]


def test_date_variables():
    from factsurv.prompts import date_variables

    v = date_variables("2024-07-26")
    assert v["date_string"] == "26 Jul 2024"
    assert dict(v["factsurv_strftime"])["%B"] == "July"
    with pytest.raises(ValueError, match="prompt.date"):
        date_variables("26 Jul 2024")


def test_control_prompts_see_the_fixed_date_too(tmp_path, monkeypatch):
    """The control probe asks its items in the facts' prompt format, date included: the same ids on
    two days (a job re-run another day must not change the control table)."""
    import datetime as dt

    from factsurv.modeling import control_probe
    from factsurv.modeling.control_probe import control_prompt_ids
    from factsurv.prompts import PromptSettings

    # the rendered text instead of ids (this tokenizer maps every word to <unk>)
    monkeypatch.setattr(control_probe, "encode_prompt", lambda tok, text, settings: text)
    tok = _dated_tokenizer(tmp_path)
    fixed = PromptSettings.from_params({"date": "2024-07-26"}, {})
    unfixed = PromptSettings.from_params({}, {})
    seen = []
    for day in (dt.date(2026, 12, 1), dt.date(2027, 3, 9)):
        _on_day(monkeypatch, day)
        seen.append((control_prompt_ids(tok, ["What is 2 + 3?"], fixed), control_prompt_ids(tok, ["What is 2 + 3?"], unfixed)))
    assert seen[0][0] == seen[1][0] and "26 Jul 2024" in seen[0][0][0]
    assert seen[0][1] != seen[1][1]  # the clock read without a date: the test can fail
