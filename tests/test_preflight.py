"""The pre-flight's functions (src/factsurv/preflight.py, factsurv.data.sniff) and the canonical
config, without Snakemake; the workflow-level cases are in test_bad_inputs.py."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path

import pytest
import yaml

from factsurv.config import canonical, validate_config
from factsurv.data.sniff import check_utf8, dangling_is_a, sniff
from factsurv.io import InputError
from factsurv.preflight import duplicate_keys, preflight, prompt_errors, run_errors

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_canonical_sorts_keys_and_keeps_list_order():
    a = canonical({"b": {"y": 1, "x": [3, {"q": 1, "p": 2}]}, "a": 0})
    assert repr(a) == repr({"a": 0, "b": {"x": [3, {"p": 2, "q": 1}], "y": 1}})


def test_integer_keys_hold_ints_and_number_keys_floats():
    cfg = copy.deepcopy(DEFAULT)
    cfg["runs"]["demo"]["epochs"] = 16.0
    cfg["runs"]["demo"]["probe"] = {"k": 20.0, "temperature": 1}
    cfg["sample"]["counts"]["go"]["train"] = 400.0
    out = validate_config(cfg, SCHEMA)
    assert type(out["runs"]["demo"]["epochs"]) is int and out["runs"]["demo"]["epochs"] == 16
    assert repr(out["runs"]["demo"]["probe"]["k"]) == "20"
    assert repr(out["sample"]["counts"]["go"]["train"]) == "400"
    assert repr(out["runs"]["demo"]["probe"]["temperature"]) == "1.0"  # a number key: a float
    assert repr(out["runs"]["demo"]["training"]["lora"]["alpha"]) == "32.0"  # the schema's default 32 too


def test_duplicate_keys_are_found_at_any_depth(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("runs:\n  a: {epochs: 1}\n  b: {epochs: 2, epochs: 3}\n  a: {epochs: 4}\n")
    msgs = duplicate_keys(p)
    assert len(msgs) == 2
    assert any("key 'a' on line 4 (first on line 2)" in m for m in msgs)
    assert any("key 'epochs' on line 3" in m for m in msgs)
    assert duplicate_keys(REPO / "config/config.yaml") == []
    assert duplicate_keys(REPO / "config/study.yaml") == []


@pytest.mark.parametrize(
    ("user", "plain", "expected"),
    [
        ('What is the {ontology_name} identifier for "{label}"?', "Question: {user}\nAnswer: ", []),
        ("What is {label}?", "{user}", []),
        ("What is the {ontology_name} identifier?", "{user}", [r"prompt.user: {label} is missing"]),
        ("{foo} {label}", "{user}", [r"prompt.user: unknown placeholder(s) {foo}"]),
        ("{label} {0}", "{user}", [r"prompt.user: unknown placeholder(s) {0}"]),
        ("{label", "{user}", [r"prompt.user: not a valid template"]),
        ("{{literal}} {label}", "{user}", []),
        ("{label}", "Q: {question}", [r"prompt.plain: unknown placeholder(s) {question}", r"prompt.plain: {user} is missing"]),
    ],
)
def test_prompt_templates(user, plain, expected):
    msgs = prompt_errors({"prompt": {"user": user, "plain": plain}})
    assert len(msgs) == len(expected), msgs
    for m, e in zip(msgs, expected):
        assert e in m


def test_prompt_date_must_be_a_day():
    assert prompt_errors({"prompt": {"date": "2024-07-26"}}) == []
    msgs = prompt_errors({"prompt": {"date": "2024-02-31"}})
    assert len(msgs) == 1 and msgs[0].startswith("config error at prompt.date: '2024-02-31'")


def test_run_constraints_name_the_keys():
    cfg = validate_config(copy.deepcopy(DEFAULT), SCHEMA)
    assert run_errors(cfg) == []
    epochs = cfg["runs"]["demo"]["epochs"]
    cfg["runs"]["demo"]["training"].update(method="qlora", schedule_epochs=epochs - 2)
    cfg["analysis"]["stable_epochs"] = epochs + 1
    msgs = run_errors(cfg)
    # QLoRA runs on the CPU too (bitsandbytes' CPU kernels, tests/test_real_model.py): no GPU needed
    assert not any("qlora" in m for m in msgs), msgs
    assert any(m.startswith(f"config error at runs.demo.training.schedule_epochs: {epochs - 2} is smaller than "
                            f"runs.demo.epochs ({epochs})") for m in msgs)
    assert any(m.startswith(f"config error at analysis.stable_epochs: {epochs + 1} is larger than "
                            f"runs.demo.epochs ({epochs})") for m in msgs)


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"", "obo", "empty file"),
        (b"  \n\n", "obo", "empty file"),
        (b"\x00\x01\x02format-version: 1.2", "obo", "binary file"),
        ("format-version: 1.2\nname: S\xe9izure\n".encode("latin-1"), "obo", "not UTF-8"),
        (b"<html><body>Not found</body></html>\n", "obo", "looks like HTML"),
        (b"!gaf-version: 2.1\nUniProtKB\t" + b"\t".join([b"x"] * 15) + b"\n", "hpoa", "looks like a GAF file"),
        (b"#v\ndatabase_id\tdisease_name\tqualifier\thpo_id\nOMIM:1\td\t\tHP:0000001\n", "gaf", "looks like an hpoa file"),
        (b"a\tb\tc\n", "gaf", "not a GAF file"),
        (b"a\tb\tc\n", "hpoa", "not an hpoa file"),
    ],
)
def test_sniff_refuses_bad_files_naming_them(tmp_path, content, fmt, message):
    p = tmp_path / f"input.{fmt}"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        sniff(p, fmt)
    assert str(p) in str(err.value)


def test_sniff_accepts_the_fixtures_gzipped_or_not(tmp_path):
    data = REPO / "tests/data/tiny"
    sniff(data / "hp.obo", "obo")
    sniff(data / "go.obo", "obo")
    sniff(data / "hp.hpoa", "hpoa")
    sniff(data / "go.gaf.gz", "gaf")
    gz = tmp_path / "hp.hpoa.gz"
    gz.write_bytes(gzip.compress((data / "hp.hpoa").read_bytes()))
    sniff(gz, "hpoa")


def test_utf8_check_names_the_line(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_bytes(b"one\ntwo\nthr\xe9e\n")
    with pytest.raises(InputError, match=r"corpus\.txt, line 3: not UTF-8"):
        check_utf8(p)
    p.write_text("one\ntwo\nthrée\n", encoding="utf-8")
    check_utf8(p)


def test_dangling_is_a(tmp_path):
    p = tmp_path / "x.obo"
    p.write_text("format-version: 1.2\n\n[Term]\nid: X:1\nname: a\n\n[Term]\nid: X:2\nname: b\nis_a: X:9 ! gone\n")
    assert dangling_is_a(p).startswith("line 10: 'is_a: X:9 ! gone' refers to X:9")
    assert dangling_is_a(REPO / "tests/data/tiny/go.obo") is None


def test_literature_paths_made_by_the_workflow_are_not_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = validate_config(copy.deepcopy(DEFAULT), SCHEMA)
    # the demo corpus does not exist yet: a rule makes it
    assert preflight(cfg, produced=["results/models/demo/corpus.txt"]).errors == []
    report = preflight(cfg)
    assert report.errors == [
        "config error at literature.corpus[0]: results/models/demo/corpus.txt: no such file or folder "
        "(and no rule of the workflow makes it)"
    ]


def test_fetch_sniffs_and_names_the_key_and_the_configured_source(tmp_path):
    """In the job (url and wheel sources cannot be looked at before): the message names the config
    key and where the file came from, and nothing is left under resources/."""
    from factsurv.data.sources import fetch

    src = tmp_path / "hp.obo"
    src.write_bytes(b"")
    dest = tmp_path / "resources/ontologies/hpo.obo"
    with pytest.raises(InputError, match=r"config error at ontologies\.hpo\.obo: the file from path .*hp\.obo is bad: .*empty file"):
        fetch({"source": "path", "path": str(src)}, dest, fmt="obo", key="ontologies.hpo.obo")
    assert not dest.exists() and not dest.with_name("hpo.obo.provenance.json").exists()


def test_a_latin1_corpus_is_an_error_naming_file_and_line(tmp_path):
    import pandas as pd

    from factsurv.data.literature import count_in_corpus

    corpus = tmp_path / "c.txt"
    corpus.write_bytes("Seizure HP:0001250\nS\xe9izure\n".encode("latin-1"))
    facts = pd.DataFrame({"fact_id": ["hpo:HP:0001250"], "term_id": ["HP:0001250"], "label": ["Seizure"]})
    with pytest.raises(InputError, match=r"c\.txt, line 2: not UTF-8"):
        count_in_corpus(facts, [corpus])


def test_design_constraints_name_the_keys():
    cfg = copy.deepcopy(DEFAULT)
    cfg["runs"]["demo"]["design"] = {"strategy": "two_stage", "stage_epochs": 12,
                                     "curriculum": {"kind": "warmup", "epochs": 20},
                                     "statements": ["{label} is {identifier}."]}
    cfg = validate_config(cfg, SCHEMA)
    sched = cfg["runs"]["demo"]["training"]["schedule_epochs"]
    msgs = run_errors(cfg)
    assert any(m.startswith(f"config error at runs.demo.design.stage_epochs: 12 is not smaller than "
                            f"runs.demo.training.schedule_epochs ({sched})") for m in msgs), msgs
    assert any(m.startswith("config error at runs.demo.design.curriculum.epochs: 20") for m in msgs), msgs
    assert any(m.startswith("config error at runs.demo.design.statements.0:") and "{id}" in m for m in msgs), msgs
    # the designs config is clean
    designs = validate_config(yaml.safe_load((REPO / "config/designs.yaml").read_text()), SCHEMA)
    assert run_errors(designs) == []
    assert designs["runs"]["two_stage"]["training"] == designs["runs"]["qa"]["training"]


def test_unknown_design_values_are_schema_errors():
    from factsurv.config import ConfigError

    for bad, key in (({"strategy": "interleaved"}, "strategy"), ({"exposure": {"kind": "zipf"}}, "kind"),
                     ({"select": {"mastery": ["latent"]}}, "mastery"), ({"statement_only_share": 1}, "statement_only_share")):
        cfg = copy.deepcopy(DEFAULT)
        cfg["runs"]["demo"]["design"] = bad
        with pytest.raises(ConfigError, match=f"runs.demo.design.*{key}"):
            validate_config(cfg, SCHEMA)
