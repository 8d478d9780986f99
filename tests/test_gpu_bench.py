"""bench/gpu_bench.py on CPU with the tiny shape: it runs end to end through the project's own
training/eval/probe code, writes its JSON, and its Llama-like tokenizer gives Llama-like lengths."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _load_bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", REPO / "bench" / "gpu_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()


def test_synthetic_facts_have_the_paper_mix_and_identifier_form():
    facts = bench.synthetic_facts(1200, 1600)
    assert len(facts) == 1600 and facts["fact_id"].is_unique
    train = facts[facts["split"] == "train"]
    assert (train["ontology"] == "hpo").sum() == 800 and (train["ontology"] == "go").sum() == 400
    held = facts[facts["split"] == "heldout"]
    assert len(held) == 400 and set(held["ontology"]) == {"go"}
    assert facts["term_id"].str.fullmatch(r"(HP|GO):\d{7}").all()
    words = facts["label"].str.split().str.len()
    assert 2.5 <= words.mean() <= 4.5  # HPO labels: ~3.3 words


def test_llama8b_tokenizer_fills_the_vocab_and_prompts_are_llama_sized(tmp_path):
    from factsurv.modeling import loading
    from factsurv.prompts import PromptSettings

    tok, vocab = bench.build_tokenizer(tmp_path, 128256)
    assert vocab == 128256
    back = loading.load_tokenizer(loading.model_spec({"source": "path"}, tmp_path))
    assert len(back) == 128256
    assert back.eos_token == "<|eot_id|>" and back.convert_tokens_to_ids("<|begin_of_text|>") == 128000
    assert back.decode([127999]) == " r127999"  # a filler id decodes (random models do sample them)
    facts = bench.synthetic_facts(60, 80)
    prompt = PromptSettings.from_params({"chat_template": "auto"}, bench.ONTO_NAMES)
    stats = bench.prompt_stats(back, facts, prompt)
    assert 40 <= stats["prompt_tokens_mean"] <= 65, stats
    assert stats["example_prompt"].startswith("<|begin_of_text|><|start_header_id|>system")
    assert stats["example_prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    # Llama 3 splits digits in groups of up to three: HP:0001250 -> HP : 000 125 0 <|eot_id|>
    assert back.tokenize("HP:0001250") == ["HP", ":", "000", "125", "0"]


def test_tiny_benchmark_runs_through_the_project_code(tmp_path, monkeypatch):
    from factsurv.modeling import generation, train

    calls = {"train_epoch": 0, "generate": 0}
    orig_epoch, orig_gen = train.EpochRecipe.run_epoch, generation.generate_answers

    def counted_epoch(self, *a, **k):
        calls["train_epoch"] += 1
        return orig_epoch(self, *a, **k)

    def counted_gen(*a, **k):
        calls["generate"] += 1
        return orig_gen(*a, **k)

    monkeypatch.setattr(train.EpochRecipe, "run_epoch", counted_epoch)
    monkeypatch.setattr(generation, "generate_answers", counted_gen)
    torch.set_num_threads(2)
    out = tmp_path / "results"
    res = bench.main(["--shape", "tiny", "--facts", "24", "--eval-facts", "32", "--k", "2",
                      "--probe-facts", "4", "--max-new-tokens", "8", "--import-s", "3.0",
                      "--workdir", str(tmp_path / "work"), "--out", str(out)])
    assert calls["train_epoch"] == 2  # warm-up + measured epoch of EpochRecipe (lora)
    assert calls["generate"] >= 2     # eval greedy, probe samples (the probe's greedy answers are eval epoch 0's)
    files = list(out.glob("gpu_*_tiny_*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    assert saved["gpu"].startswith("cpu") and saved["shape"] == "tiny"
    lora = saved["train"]["lora"]
    assert lora["tokens_per_s"] > 0 and lora["tokens_per_epoch"] > 24 * 40
    assert lora["trainable_params"] > 0
    assert saved["trainer"]["tokens_per_epoch"] == lora["tokens_per_epoch"]  # same examples
    assert saved["train_speedup_vs_trainer"] == pytest.approx(
        lora["tokens_per_s"] / saved["trainer"]["tokens_per_s"])
    assert "qlora" in saved["skipped"]  # no CUDA here
    assert saved["eval"]["facts"] == 32 and saved["eval"]["facts_per_s"] > 0
    assert saved["probe"]["facts"] == 4 and saved["probe"]["k"] == 2
    proj = saved["projection"]["lora"]
    assert proj["study_minutes"] > 0 and proj["epochs"] == 20 and proj["seeds"] == 3  # config/study.yaml's
    # every GPU job of the study: epoch 0's eval, probe and control once, 20 epochs x 3 seeds of each step
    assert proj["jobs"] == {"quantize_base": 0, "probe_baseline": 1, "eval_base_model": 1, "control_base_model": 1,
                            "train_epoch": 60, "eval_epoch": 60, "control_epoch": 60} and proj["gpu_jobs"] == 183
    assert saved["load"]["cold"] and saved["load"]["dropped_bytes"] > 0
    assert set(saved["targets_met"]) == {"train_speedup_vs_trainer", "study_minutes"}
    assert saved["versions"]["torch"] != "absent" and saved["versions"]["peft"] != "absent"
