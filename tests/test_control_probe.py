"""The control probe (out-of-domain items): multiple-choice files, item tables from the config, letter scoring,
the probe on a tiny model, control accuracy, and the confidence of greedy answers on a tiny model."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from factsurv import control
from factsurv.analysis.control_accuracy import control_accuracy, control_accuracy_from_files
from factsurv.analysis.figures import plot_control
from factsurv.config import validate_config
from factsurv.io import InputError, write_tsv
from factsurv.modeling.control_probe import control_epoch, control_table
from factsurv.modeling.evaluate import load_trained
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
from factsurv.modeling.loading import model_spec
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.tables import CONTROL_ACCURACY_COLUMNS, CONTROL_COLUMNS, CONTROL_ITEM_COLUMNS

DATA = Path(__file__).parent / "data/control"
REPO = Path(__file__).parents[1]
PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


def _defaults(**control_block) -> dict:
    """The tiny test config with ``control_block``, defaults filled from the schema."""
    cfg = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    for onto in cfg["ontologies"].values():
        for part in ("obo", "annotations"):
            onto[part]["path"] = str(REPO / onto[part]["path"])
    cfg["literature"] = {"source": "none"}
    cfg["control"] = control_block
    validate_config(cfg, REPO / "workflow/schemas/config.schema.yaml")
    return cfg


# ---- multiple-choice files --------------------------------------------------------------------------

def test_jsonl_and_csv_files_are_read_with_letters():
    j = control.read_multiple_choice(DATA / "mc.jsonl")
    assert [gold for _, _, gold in j] == ["B", "B", "C"]  # letter, 0-based index, lower case
    assert j[2][1] == ["Oxygen", "Nitrogen", "Carbon dioxide"]
    c = control.read_multiple_choice(DATA / "mc.csv")
    assert c[0] == ("Which organ pumps blood, in humans?", ["Liver", "Heart", "Lung", "Kidney"], "B")
    m = control.read_multiple_choice(DATA / "mc_mmlu.csv")  # no header: MMLU's layout
    assert m[1] == ("Which is a prime number?", ["4", "6", "7", "9"], "C")


@pytest.mark.parametrize(("name", "text", "match"), [
    ("bad.jsonl", '{"question": "q", "choices": ["a", "b"], "answer": "A"}\n{"question": "q2", "choices": ["a", "b"]}\n',
     r"bad.jsonl, line 2: missing key\(s\) \['answer'\]"),
    ("bad.jsonl", '{"question": "q", "choices": ["a", "b"], "answer": "C"}\n', r"line 1: answer 'C' is not one of the letters A, B"),
    ("bad.jsonl", '{"question": "q", "choices": ["a", "b"], "answer": 5}\n', r"line 1: answer index 5 is out of range"),
    ("bad.jsonl", '\n{not json\n', r"bad.jsonl, line 2: not valid JSON"),
    ("bad.jsonl", '{"question": "q", "choices": ["a"], "answer": "A"}\n', r"line 1: 1 choices; expected 2"),
    ("bad.csv", "question,A,B,answer\nq,a,b,A\nq2,a,b\n", r"bad.csv, line 3: 3 fields; the header has 4"),
    ("bad.csv", "question,A,B,answer\nq,a,,A\n", r"bad.csv, line 2: an empty choice"),
    ("bad.csv", "question,x,y,answer\nq,a,b,A\n", r"line 1: header .* has no choice columns"),
    ("bad.csv", "q,a,b\n", r"bad.csv, line 1: 3 fields"),
    ("empty.jsonl", "\n", r"no multiple-choice items"),
])
def test_bad_files_name_file_and_line(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        control.read_multiple_choice(p)


def test_missing_file_names_the_config_key(tmp_path):
    with pytest.raises(InputError, match="control.multiple_choice.path"):
        control.read_multiple_choice(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(("text", "gold", "n", "ok"), [
    ("B", "B", 4, True), ("(B)", "B", 4, True), ("B. Mars", "B", 4, True), ("The answer is B.", "B", 4, True),
    ("b", "B", 4, False), ("E", "E", 4, False), ("Because C", "C", 4, True), ("C or B", "B", 4, False),
    ("", "A", 4, False), (None, "A", 4, False), ("D", "D", 3, False),
])
def test_letter_scoring_is_exact_on_the_first_choice_letter(text, gold, n, ok):
    assert control.letter_correct(text, gold, n) is ok


def test_items_from_the_config_defaults_and_a_file():
    cfg = _defaults()["control"]
    assert cfg["arithmetic"] == {"items": 200, "max_operand": 19, "operations": ["+"], "seed": 0,
                                 "template": control.DEFAULT_ARITHMETIC_TEMPLATE}
    # the demo corpus's arithmetic defaults are the control's: the demo model has the asked skill
    demo = _defaults()["models"]["demo"]["demo"]["corpus"]["arithmetic"]
    assert (demo["max_operand"], demo["operations"]) == (cfg["arithmetic"]["max_operand"], cfg["arithmetic"]["operations"])
    items = control.control_items(cfg)
    assert list(items.columns) == list(CONTROL_ITEM_COLUMNS) and len(items) == 200
    assert (items["kind"] == "arithmetic").all()
    both = control.control_items(_defaults(arithmetic={"items": 5},
                                           multiple_choice={"path": str(DATA / "mc.jsonl"), "limit": 2})["control"])
    assert list(both["kind"]) == ["arithmetic"] * 5 + ["multiple_choice"] * 2 and both["item_id"].is_unique
    q = both["question"].iloc[5]
    assert q.splitlines()[1:5] == ["A. Venus", "B. Mars", "C. Jupiter", "D. Saturn"] and control.choice_count(q) == 4
    assert control.is_correct("multiple_choice", "B", both["answer"].iloc[5], q)
    assert control.chance_level(both[both["kind"] == "multiple_choice"]) == 0.25
    with pytest.raises(ValueError, match="no control items"):
        control.control_items(_defaults(arithmetic={"items": 0})["control"])


def test_preflight_names_bad_templates_and_the_bad_line(tmp_path):
    from factsurv.preflight import control_errors

    assert control_errors(_defaults()) == []
    assert control_errors(_defaults(enabled=False, arithmetic={"template": "{x}"})) == []
    errs = control_errors(_defaults(arithmetic={"template": "What is {a} {op} {c}?"},
                                    multiple_choice={"template": "{question}"}))
    assert any("control.arithmetic.template: unknown placeholder(s) {c}" in e for e in errs)
    assert any("control.arithmetic.template: {b} is missing" in e for e in errs)
    assert any("control.multiple_choice.template: {choices} is missing" in e for e in errs)
    bad = tmp_path / "mc.jsonl"
    bad.write_text('{"question": "q", "choices": ["a", "b"], "answer": "A"}\n{"question": "q"}\n')
    errs = control_errors(_defaults(multiple_choice={"path": str(bad)}))
    assert len(errs) == 1 and "control.multiple_choice.path" in errs[0] and "mc.jsonl, line 2" in errs[0]
    assert "no control items" in control_errors(_defaults(arithmetic={"items": 0}))[0]


# ---- the probe on a tiny model ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("control")
    spec = model_spec({"source": "path"}, build_tiny_model(root / "m"))
    items = pd.concat([control.arithmetic_items(0, 6, 9),
                       control.multiple_choice_items(DATA / "mc.csv")], ignore_index=True)
    write_tsv(items, root / "items.tsv")
    return spec, root / "items.tsv", items


def test_control_epoch_0_table_and_batch_invariance(tiny):
    spec, path, items = tiny
    t = control_epoch(spec, path, 0, PROMPT, batch_size=3, max_new_tokens=4)
    assert list(t.columns) == list(CONTROL_COLUMNS)
    assert list(t["item_id"]) == list(items["item_id"]) and (t["epoch"] == 0).all()
    assert set(t["correct"]) <= {0, 1}
    again = control_epoch(spec, path, 0, PROMPT, batch_size=8, max_new_tokens=4)
    assert t.equals(again)
    with pytest.raises(ValueError, match="checkpoint"):
        control_epoch(spec, path, 1, PROMPT, batch_size=3, max_new_tokens=4)


def test_control_scoring_uses_the_item_kind(tiny, monkeypatch):
    from factsurv.modeling import generation

    spec, _, items = tiny
    model, tok, _ = load_trained(spec, None)
    gold = dict(zip(items["item_id"], items["answer"]))
    seen = {}

    def fake(model, tokenizer, prompt_ids, keys=None, max_new_tokens=0, **kw):
        seen["max_new_tokens"] = max_new_tokens
        # right for the arithmetic items and the first MC item, with some text around
        return [[generation.Answer(f" {gold[k]}. done" if k != "mc:0001" else "A", -1.0, 2)] for k in keys]

    monkeypatch.setattr(generation, "generate_answers", fake)
    t = control_table(model, tok, items, PROMPT, batch_size=4, max_new_tokens=5)
    assert seen["max_new_tokens"] == 5
    assert dict(zip(t["item_id"], t["correct"])) == {**{i: 1 for i in items["item_id"]}, "mc:0001": 0}


def test_greedy_confidence_is_the_log_probability_of_the_answer(tiny):
    """answer_logprob / answer_tokens of the eval table = the summed log-probability of the greedy
    tokens (end token included), recomputed here with full forward passes and no cache."""
    from factsurv.modeling.evaluate import greedy_table

    spec, _, _ = tiny
    model, tok, _ = load_trained(spec, None)
    facts = synthetic_facts(n_train=3, n_heldout=0)
    table = greedy_table(model, tok, facts, PROMPT, batch_size=3, max_new_tokens=6)
    eos = tok.eos_token_id
    for prompt, row in zip(render_prompts(tok, facts, PROMPT), table.itertuples()):
        ids = encode_prompt(tok, prompt, PROMPT)
        total, n, out = 0.0, 0, []
        with torch.no_grad():
            for _ in range(6):
                logp = torch.log_softmax(model(torch.tensor([ids + out])).logits[0, -1].float(), -1)
                nxt = int(logp.argmax())
                total += float(logp[nxt])
                n += 1
                if nxt == eos:
                    break
                out.append(nxt)
        assert row.answer_tokens == n
        assert math.isclose(row.answer_logprob, total, abs_tol=1e-3)
        assert row.answer_logprob < 0


# ---- accuracy and figure -----------------------------------------------------------------------------

def test_control_accuracy_per_kind_and_epoch(tmp_path):
    items = pd.concat([control.arithmetic_items(0, 4, 9), control.multiple_choice_items(DATA / "mc.csv")],
                      ignore_index=True)
    write_tsv(items, tmp_path / "items.tsv")
    paths = []
    for e, right in ((0, {"arith:0000", "arith:0001", "arith:0002", "mc:0000"}), (1, {"arith:0000"})):
        t = pd.DataFrame({"item_id": items["item_id"], "kind": items["kind"], "epoch": e, "prediction": "x",
                          "correct": [int(i in right) for i in items["item_id"]]})
        paths.append(tmp_path / f"epoch_{e}.tsv")
        write_tsv(t, paths[-1])
    acc = control_accuracy_from_files(tmp_path / "items.tsv", paths)
    assert list(acc.columns) == list(CONTROL_ACCURACY_COLUMNS)
    a = acc.set_index(["kind", "epoch"])
    assert a.loc[("arithmetic", 0), "accuracy"] == 0.75 and a.loc[("arithmetic", 1), "accuracy"] == 0.25
    assert a.loc[("multiple_choice", 0), "accuracy"] == 0.5 and a.loc[("multiple_choice", 1), "correct"] == 0
    assert a.loc[("multiple_choice", 0), "chance"] == 0.25
    assert a.loc[("arithmetic", 0), "chance"] == 1 / items.loc[items["kind"] == "arithmetic", "answer"].nunique()
    assert (acc["lower_95"] <= acc["accuracy"]).all() and (acc["accuracy"] <= acc["upper_95"]).all()
    fig = plot_control(acc, run="x", demo=True)
    assert len(fig.axes[0].lines) == 4  # two kinds, each with its chance line
    # a table of other items is refused, naming the file
    t = pd.read_csv(paths[1], sep="\t").iloc[1:]
    write_tsv(t, paths[1])
    with pytest.raises(InputError, match="epoch_1.tsv: its items differ"):
        control_accuracy_from_files(tmp_path / "items.tsv", paths)
    assert control_accuracy(items, pd.DataFrame(columns=list(CONTROL_COLUMNS))).empty


def test_demo_metrics_read_the_control_tables(tmp_path):
    from factsurv.analysis.demo_bands import BANDS, _control_accuracy, outside_bands

    folder = tmp_path / "control"
    for e, right in enumerate((3, 1, 2)):
        write_tsv(pd.DataFrame({"item_id": [f"arith:{i:04d}" for i in range(4)] + ["mc:0000"],
                                "kind": ["arithmetic"] * 4 + ["multiple_choice"], "epoch": e, "prediction": "x",
                                "correct": [1] * right + [0] * (4 - right) + [1]}), folder / f"epoch_{e}.tsv")
    m = _control_accuracy(folder)
    assert m == {"control_accuracy_epoch_0": 0.75, "control_accuracy_last": 0.5,
                 "control_accuracy_by_epoch": [0.75, 0.25, 0.5]}
    assert outside_bands(m, {"control_accuracy_epoch_0": BANDS["control_accuracy_epoch_0"]}) == []
    assert outside_bands({"control_accuracy_epoch_0": 0.1}, {"control_accuracy_epoch_0": BANDS["control_accuracy_epoch_0"]})
    assert _control_accuracy(tmp_path / "none") == {}
