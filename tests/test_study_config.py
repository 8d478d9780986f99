"""config/study.yaml: the paper's design, complete (it replaces config/config.yaml), valid, and
planned by a dry-run that needs neither the network nor the model weights."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake, write_config
from factsurv.config import validate_config
from factsurv.dryrun import job_stats

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
STUDY = yaml.safe_load((REPO / "config/study.yaml").read_text())
RUN = "paper-lora-s1"  # the first of the paper's 3 replicate seeds (experiments.paper)
RUNS = ["paper-lora-s1", "paper-lora-s2", "paper-lora-s3"]


def fake_hf_cache(root: Path, repo_id: str) -> Path:
    """A Hugging Face hub cache holding ``repo_id`` (refs/main → a snapshot with config.json)."""
    repo = root / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    (repo / "snapshots" / "0123abcd" / "config.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    home = fake_hf_cache(tmp_path_factory.mktemp("hf"), STUDY["models"]["llama"]["name_or_path"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        mp.delenv("HF_HUB_CACHE", raising=False)
        return validate_config(copy.deepcopy(STUDY), SCHEMA)


def test_study_config_is_complete_and_valid(study):
    assert set(STUDY) >= {"ontologies", "sample", "literature", "prompt", "models", "experiments"}
    assert sorted(study["runs"]) == RUNS  # the replicate design: 3 seeds of one run
    assert [study["runs"][r]["seed"] for r in RUNS] == [1, 2, 3]
    assert all(study["runs"][r] == {**study["runs"][RUN], "seed": study["runs"][r]["seed"]} for r in RUNS)


def test_study_model_is_llama_in_bf16(study):
    model = study["models"][study["runs"][RUN]["model"]]
    assert model["source"] == "hf"
    assert model["name_or_path"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert model["dtype"] == "bfloat16"
    assert model["attn_implementation"] == "sdpa"
    assert study["prompt"]["chat_template"] == "auto"


def test_study_training_is_spec_section_1(study):
    run = study["runs"][RUN]
    tr = run["training"]
    assert run["epochs"] == 20 and tr["schedule_epochs"] == 20
    assert tr["method"] in ("lora", "qlora")
    assert tr["lr"] == pytest.approx(2e-4)
    assert tr["warmup_ratio"] == pytest.approx(0.03)
    assert tr["batch_size"] * tr["grad_accum"] == 16
    assert tr["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05,
                          "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"]}
    assert isinstance(run["seed"], int)
    assert run["probe"]["k"] == 100 and run["probe"]["temperature"] == 1.0


def test_study_decoding_lengths_are_the_schema_default(study):
    """48 new tokens (the schema's default) for the probe and the eval: sentence-style answers at
    temperature 1.0 reach the identifier; 16 cut them off (and undercount latent knowledge)."""
    schema = yaml.safe_load(SCHEMA.read_text())["definitions"]["run"]["properties"]
    run = study["runs"][RUN]
    for block in ("probe", "eval"):
        default = schema[block]["properties"]["max_new_tokens"]["default"]
        assert default == 48
        assert run[block]["max_new_tokens"] == default, block


def test_study_resources_ask_for_a_gpu(study):
    res = study["runs"][RUN]["resources"]
    assert res["gpu"] == 1
    assert res["mem_mb"] >= 32000  # 16 GB of bf16 weights pass through host memory
    assert res["runtime"] >= 60


def test_study_data_are_the_online_releases_and_the_paper_counts(study):
    onto = study["ontologies"]
    assert onto["hpo"]["obo"] == {"source": "url", "url": "http://purl.obolibrary.org/obo/hp.obo"}
    assert onto["go"]["obo"]["url"] == "http://purl.obolibrary.org/obo/go/go-basic.obo"
    assert onto["hpo"]["annotations"]["url"] == "http://purl.obolibrary.org/obo/hp/hpoa/phenotype.hpoa"
    assert onto["go"]["annotations"]["url"] == "http://current.geneontology.org/annotations/goa_human.gaf.gz"
    assert onto["go"]["namespace"] == "cellular_component"
    assert study["sample"]["counts"] == {"hpo": {"train": 800, "heldout": 0},
                                         "go": {"train": 400, "heldout": 400}}
    assert study["literature"]["source"] == "none"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Any attempt to reach the network fails (a dead proxy; the hub and transformers offline);
    the model is in a (fake) local Hugging Face cache, as on a cluster after the download."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(fake_hf_cache(tmp_path / "hf", STUDY["models"]["llama"]["name_or_path"])))


def test_model_missing_from_the_cache_warns_in_a_dry_run_and_stops_a_real_run(workdir, offline, monkeypatch, tmp_path):
    """Planning before downloading: with -n a model not yet in the cache is a warning that says how
    to fetch it and the plan is shown; a real run stops before any job."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf"))
    proc = run_snakemake(workdir, "-n", "--configfile", "config/study.yaml", "--quiet", "rules", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "warning at models.llama.name_or_path: 'meta-llama/Llama-3.1-8B-Instruct'" in out
    assert "huggingface-cli download meta-llama/Llama-3.1-8B-Instruct" in out
    assert job_stats(out)["train_epoch"] == 60

    proc = run_snakemake(workdir, "--configfile", "config/study.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config error at models.llama.name_or_path: 'meta-llama/Llama-3.1-8B-Instruct'" in out
    assert "is not in the Hugging Face cache" in out and "local_files_only is true" in out
    assert not (workdir / "results").exists() and not (workdir / "resources/ontologies").exists()


def test_study_dry_run_plans_the_whole_study_offline(workdir, offline):
    proc = run_snakemake(workdir, "-n", "--configfile", "config/study.yaml", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    jobs = job_stats(out)
    assert jobs["get_ontology"] == 2 and jobs["get_annotations"] == 2
    assert jobs["probe_baseline"] == 1  # one probe for the 3 seeds (model scope)
    assert jobs["train_epoch"] == 60  # 3 seeds x 20 epochs
    assert jobs["eval_epoch"] == 60 and jobs["eval_base_model"] == 1  # epoch 0 at model scope
    # the control probe after every epoch; epoch 0 (the base model) once for the 3 seeds
    assert jobs["control_epoch"] == 60 and jobs["control_base_model"] == 1
    assert jobs["run_baseline_control"] == 3 and jobs["run_baseline_tables"] == 3
    assert jobs["experiment_tables"] == 1 and jobs["experiment_cox"] == 3
    # nothing of the offline demo: no demo model is built, no demo run
    assert "build_demo_model" not in jobs and "pretrain_demo_model" not in jobs
    assert "results/demo/" not in out
    assert not (workdir / "results").exists()


GPU_RULES = ("eval_base_model", "probe_baseline", "control_base_model", "train_epoch", "eval_epoch", "control_epoch")


def test_study_dry_run_on_slurm_gives_gpu_jobs(workdir, offline):
    proc = run_snakemake(workdir, "-n", "--profile", "profiles/slurm", "--configfile", "config/study.yaml")
    out = proc.stdout + proc.stderr
    for rule in GPU_RULES:
        block = out.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]
        res = re.search(r"resources: (.*)", block).group(1)
        assert "gpu=1" in res, (rule, res)
        assert "mem_mb=48000" in res and "runtime=120" in res, (rule, res)
    # one Slurm job per run and epoch (train, eval, control) and one per model (epoch 0)
    groups = re.findall(r"Group job (\S+) ", out)
    assert len(groups) == 61 and len(set(groups)) == 61, groups
    assert "base_llama" in groups and "ep_paper-lora-s3_20" in groups
    steps = {rule: len(re.findall(rf"^\s+rule {rule}:$", out, re.M)) for rule in GPU_RULES}
    assert sum(steps.values()) == 183, steps
    # the numbers docs/study.md gives
    doc = (REPO / "docs/study.md").read_text()
    assert "183 GPU steps" in doc and "61 GPU jobs" in doc


def test_a_qlora_design_plans_its_own_epoch_0_on_the_nf4_base(workdir, offline):
    """Epochs >= 1 of a QLoRA run score the NF4 base + adapter, so its epoch 0 (eval, probe,
    control) is its own job on the NF4 base, not the bf16 base's that the LoRA runs share."""
    cfg = write_config(workdir, "config/study.yaml", "qlora.yaml", experiments__paper__seeds=[1],
                       experiments__paper__designs={"lora": {}, "qlora": {"training": {"method": "qlora"}}})
    proc = run_snakemake(workdir, "-n", "--configfile", str(cfg), "--quiet", "rules")
    jobs = job_stats(proc.stdout + proc.stderr)
    assert jobs["eval_base_model"] == 2 and jobs["probe_baseline"] == 2 and jobs["control_base_model"] == 2, jobs
    assert jobs["train_epoch"] == 40 and jobs["run_baseline_tables"] == 2

    from factsurv.experiments import base_control_key, base_keys, base_quantization

    config = validate_config(yaml.safe_load(cfg.read_text()), SCHEMA)
    runs = config["runs"]
    keys = base_keys(runs)
    assert keys["paper-lora-s1"] != keys["paper-qlora-s1"]  # eval and probe keys both differ
    assert keys["paper-lora-s1"][0] != keys["paper-qlora-s1"][0] and keys["paper-lora-s1"][1] != keys["paper-qlora-s1"][1]
    assert base_control_key(runs["paper-lora-s1"]) != base_control_key(runs["paper-qlora-s1"])
    assert base_quantization(runs["paper-qlora-s1"]) == "nf4" and base_quantization(runs["paper-lora-s1"]) is None
    # the LoRA runs keep the key they had before QLoRA was told apart (finished runs are not redone)
    from factsurv.experiments import settings_key

    lora = runs["paper-lora-s1"]
    assert keys["paper-lora-s1"][0] == settings_key({"eval": lora["eval"], "threads": lora["threads"]})


def test_runtime_by_rule_reaches_each_rules_jobs(workdir, offline):
    """resources.runtime_by_rule sets the minutes of the rules it names; the others keep runtime."""
    cfg = write_config(workdir, "config/study.yaml", "runtimes.yaml", experiments__paper__seeds=[1],
                       experiments__paper__base__resources__runtime_by_rule={"eval_epoch": 15, "probe_baseline": 240})
    proc = run_snakemake(workdir, "-n", "--configfile", str(cfg))
    out = proc.stdout + proc.stderr
    for rule, minutes in {"eval_epoch": 15, "probe_baseline": 240, "train_epoch": 120, "control_epoch": 120}.items():
        blocks = [b.split("\n\n", 1)[0] for b in out.split(f"rule {rule}:")[1:]]
        assert blocks, rule
        assert all(f"runtime={minutes}" in re.search(r"resources: (.*)", b).group(1) for b in blocks), (rule, blocks[0])
