"""Configuration: defaults from the schema, and bad values stopped before any job, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake, write_config
from factsurv.config import ConfigError, section_defaults, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


def validated(cfg):
    return validate_config(copy.deepcopy(cfg), SCHEMA)


def test_default_config_is_valid_and_gets_defaults():
    cfg = validated(DEFAULT)
    assert cfg["sample"]["duplicate_labels"] == "drop"
    assert cfg["runs"]["demo"]["training"]["lora"]["r"] == 16  # from the schema
    assert cfg["ontologies"]["hpo"]["propagate"] == ["is_a", "part_of"]
    assert cfg["prompt"]["user"].startswith("What is the {ontology_name} identifier")


def test_demo_counts_keep_the_papers_total_with_more_withheld_go():
    # the paper's 800/0 HPO + 400/400 GO stay in config/study.yaml; the demo evaluates as many facts
    # (1600) but withholds 700 GO facts, so that generalization has events at every pretraining seed
    counts = validated(DEFAULT)["sample"]["counts"]
    assert counts == {"hpo": {"train": 500, "heldout": 0}, "go": {"train": 400, "heldout": 700}}
    assert sum(c["train"] + c["heldout"] for c in counts.values()) == 1600
    assert DEFAULT["ontologies"]["go"]["namespace"] == "cellular_component"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["sample"].update(seed="seven"), r"sample\.seed: 'seven' is not of type 'integer'"),
        (lambda c: c["sample"].update(sedd=1), r"sample: Additional properties are not allowed \('sedd' was unexpected\)"),
        (lambda c: c["runs"]["demo"].setdefault("training", {}).update(lr=-1), r"runs\.demo\.training\.lr: -1 is less than or equal to the minimum of 0"),
        (lambda c: c["sample"]["counts"]["hpo"].update(train=-5), r"sample\.counts\.hpo\.train: -5 is less than the minimum of 0"),
        (lambda c: c["runs"]["demo"].update(model="llama"), r"runs\.demo\.model: 'llama' is not a key of `models`"),
        (lambda c: c["sample"]["counts"].update(mondo={"train": 3}), r"sample\.counts\.mondo: not a key of `ontologies`"),
        (lambda c: c["ontologies"]["go"]["obo"].update(source="ftp"), r"ontologies\.go\.obo\.source: 'ftp' is not one of"),
        (lambda c: c["models"].update(local={"source": "path", "name_or_path": "/no/such/model"}), r"models\.local\.name_or_path: model folder not found: /no/such/model"),
    ],
)
def test_bad_values_name_the_key(mutate, message):
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        validated(cfg)


def test_snakemake_stops_before_any_job(workdir):
    cfg = write_config(workdir, "tests/configs/tiny.yaml", sample__counts__hpo__train="many")
    proc = run_snakemake(workdir, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "config error at sample.counts.hpo.train: 'many' is not of type 'integer'" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_a_configfile_replaces_the_default_config(workdir):
    """--configfile must not be merged with config/config.yaml (that would add the demo run)."""
    proc = run_snakemake(workdir, "-n", "--configfile", "tests/configs/tiny.yaml", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    assert "results/demo/" not in out
    jobs_lines = out.split("Job stats:", 1)[1]
    assert "sample_facts" in jobs_lines


def test_defaults_written_in_definitions_are_filled():
    cfg = copy.deepcopy(DEFAULT)
    cfg["models"]["demo"].pop("demo", None)
    cfg["runs"]["demo"].pop("resources", None)
    out = validated(cfg)
    assert out["models"]["demo"]["demo"]["seed"] == 0  # demo_model definition's defaults
    assert out["runs"]["demo"]["resources"]["gpu"] == 0


def test_settings_classes_carry_no_defaults_of_their_own():
    """Defaults live in the config schema only: no field of a ``*Settings`` dataclass of factsurv
    has a default (a settings class fills what a block leaves out from ``section_defaults``)."""
    import dataclasses
    import importlib
    import pkgutil

    import factsurv

    # not config keys: the corpus's statement templates are a module constant, not a setting
    exempt = {("CorpusSettings", "templates")}
    found, offenders = [], []
    for mod in pkgutil.walk_packages(factsurv.__path__, "factsurv."):
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if (name.endswith("Settings") and dataclasses.is_dataclass(obj) and isinstance(obj, type)
                    and obj.__module__ == module.__name__):
                found.append(name)
                offenders += [f"{name}.{f.name}" for f in dataclasses.fields(obj)
                              if (name, f.name) not in exempt and (f.default is not dataclasses.MISSING
                                                                 or f.default_factory is not dataclasses.MISSING)]
    assert {"TrainSettings", "ProbeSettings", "CorpusSettings", "PromptSettings", "CoxSettings"} <= set(found)
    assert offenders == []


def test_settings_built_outside_a_run_get_the_schema_defaults():
    from factsurv import prompts
    from factsurv.modeling.demo import ArchitectureSettings
    from factsurv.modeling.demo_pretrain import PretrainSettings
    from factsurv.modeling.probe import ProbeSettings
    from factsurv.modeling.train import TrainSettings

    training = section_defaults("definitions.run.training")
    ts = TrainSettings.from_params({"lr": 0.5, "lora": {"r": 2}}, seed=3, threads=0)
    assert ts.lr == 0.5 and ts.batch_size == training["batch_size"] and ts.seed == 3
    assert ts.lora == {**training["lora"], "r": 2}
    ps = ProbeSettings.from_params({"k": 4}, threads=1)
    assert ps.k == 4 and ps.max_new_tokens == section_defaults("definitions.run.probe")["max_new_tokens"]
    assert PretrainSettings.from_params({}).lr == section_defaults("definitions.demo_model.pretrain")["lr"]
    architecture = section_defaults("definitions.demo_model.architecture")
    assert ArchitectureSettings.from_params({}).hidden_size == architecture["hidden_size"]
    prompt = section_defaults("prompt")
    ps = prompts.PromptSettings.from_params({}, {"hpo": "HPO"})
    assert (ps.user, ps.plain, ps.chat_template) == (prompt["user"], prompt["plain"], prompt["chat_template"])
    # the prompts module's fallbacks for its own functions are the schema's values
    assert (prompts.DEFAULT_USER, prompts.DEFAULT_PLAIN) == (prompt["user"], prompt["plain"])
    with pytest.raises(ConfigError, match="unknown"):
        TrainSettings.from_params({"threads": 2}, seed=1, threads=0)
    with pytest.raises(ConfigError, match="unknown"):
        ProbeSettings.from_params({"bogus": 1}, threads=0)


def _settings_builders():
    """(name, a call of the class's from_params with one bad key) for every settings class."""
    from factsurv.analysis.cox import CoxSettings
    from factsurv.analysis.discrete_time import DiscreteTimeSettings
    from factsurv.modeling.demo import ArchitectureSettings
    from factsurv.modeling.demo_corpus import CorpusSettings
    from factsurv.modeling.demo_pretrain import PretrainSettings
    from factsurv.modeling.probe import ProbeSettings
    from factsurv.modeling.train import TrainSettings
    from factsurv.prompts import PromptSettings

    analysis = section_defaults("analysis")
    corpus = section_defaults("definitions.demo_model.corpus")
    return [
        ("analysis.cox", lambda: CoxSettings.from_params({**analysis["cox"], "bogus": 1})),
        ("analysis.discrete_time", lambda: DiscreteTimeSettings.from_params({**analysis["discrete_time"], "bogus": 1})),
        ("prompt", lambda: PromptSettings.from_params({"bogus": 1}, {})),
        ("probe", lambda: ProbeSettings.from_params({"bogus": 1}, threads=0)),
        ("training", lambda: TrainSettings.from_params({"bogus": 1}, seed=1, threads=0)),
        ("demo.architecture", lambda: ArchitectureSettings.from_params({"bogus": 1})),
        ("demo.corpus", lambda: CorpusSettings.from_params({**corpus, "bogus": 1})),
        ("demo.pretrain", lambda: PretrainSettings.from_params({"bogus": 1})),
    ]


@pytest.mark.parametrize("section, build", _settings_builders(), ids=[s for s, _ in _settings_builders()])
def test_every_settings_class_refuses_an_unknown_key_with_one_error_naming_it(section, build):
    with pytest.raises(ConfigError, match=rf"config error at \S*{section}: unknown key\(s\) \['bogus'\]"):
        build()


def test_settings_refuse_a_missing_key_or_a_bad_value_with_the_same_error():
    from factsurv.analysis.cox import CoxSettings
    from factsurv.modeling.demo_pretrain import PretrainSettings
    from factsurv.modeling.train import TrainSettings

    cox = {k: v for k, v in section_defaults("analysis")["cox"].items() if k != "max_vif"}
    with pytest.raises(ConfigError, match=r"analysis\.cox: missing key\(s\) \['max_vif'\]"):
        CoxSettings.from_params(cox)
    with pytest.raises(ConfigError, match=r"training\.method: 'dora'"):
        TrainSettings.from_params({"method": "dora"}, seed=1, threads=0)
    with pytest.raises(ConfigError, match=r"pretrain\.passes: must be > 0"):
        PretrainSettings.from_params({"passes": 0.0})
