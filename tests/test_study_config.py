"""config/study.yaml: the paper's design, complete (it replaces config/config.yaml), valid, and
planned by a dry-run that needs neither the network nor the model weights."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
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
    assert jobs["control_epoch"] == 63  # the control probe after every epoch, 0 = the base model (per run)
    assert jobs["experiment_tables"] == 1 and jobs["experiment_cox"] == 3
    # nothing of the offline demo: no demo model is built, no demo run
    assert "build_demo_model" not in jobs and "pretrain_demo_model" not in jobs
    assert "results/demo/" not in out
    assert not (workdir / "results").exists()


def test_study_dry_run_on_slurm_gives_gpu_jobs(workdir, offline):
    proc = run_snakemake(workdir, "-n", "--profile", "profiles/slurm", "--configfile", "config/study.yaml")
    out = proc.stdout + proc.stderr
    for rule in ("probe_baseline", "eval_base_model", "train_epoch", "eval_epoch", "control_epoch"):
        block = out.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]
        res = re.search(r"resources: (.*)", block).group(1)
        assert "gpu=1" in res, (rule, res)
        assert "mem_mb=48000" in res and "runtime=120" in res, (rule, res)
