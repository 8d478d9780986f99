"""The demo model: corpus, tokenizer, model building and pretraining (tiny sizes)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from factsurv import control, prompts
from factsurv.config import ConfigError, section_defaults
from factsurv.modeling.demo import ArchitectureSettings, build_base, init_demo_model, train_tokenizer, wrap_tokenizer
from factsurv.modeling.demo_corpus import (
    CorpusSettings,
    build_corpus,
    choose_distractors,
    competing_identifier,
    corpus_text,
    mention_counts,
    question_text,
    split_documents,
)
from factsurv.modeling.demo_pretrain import (
    PretrainSettings,
    encode_documents,
    lr_factor,
    pack_blocks,
    pretrain,
)
from factsurv.prompts import PromptSettings, encode_prompt, encode_target, split_trailing_space

NAMES = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}
CORPUS_DEFAULTS = section_defaults("definitions.demo_model.corpus")


def corpus_settings(arithmetic: int = 0, **overrides: object) -> CorpusSettings:
    """The schema's corpus defaults with ``overrides``; a clean corpus (no contested or noisy facts,
    no arithmetic documents) unless asked."""
    values = {**CORPUS_DEFAULTS, "contested_share": 0.0, "noisy_share": 0.0, **overrides}
    values["arithmetic"] = {**CORPUS_DEFAULTS["arithmetic"], "documents": arithmetic}
    return CorpusSettings.from_params(values)


def make_facts(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    rows, terms = [], {"hpo": [], "go": []}
    ids = rng.choice(9_999_999, size=n + 30, replace=False)
    for i in range(n + 30):
        onto = "hpo" if i % 2 == 0 else "go"
        tid = f"{'HP' if onto == 'hpo' else 'GO'}:{ids[i]:07d}"
        label = " ".join("".join(rng.choice(list("abcdefghijklmnoprstuvwz"), size=rng.integers(4, 9))) for _ in range(2))
        terms[onto].append({"term_id": tid, "label": label, "obsolete": False})
        if i < n:
            rows.append(
                {
                    "fact_id": f"{onto}:{tid}",
                    "ontology": onto,
                    "term_id": tid,
                    "label": label,
                    "split": "train" if i % 4 else "heldout",
                    "annotation_count": int(rng.lognormal(1.5, 1.5)),
                }
            )
    return pd.DataFrame(rows), {k: pd.DataFrame(v) for k, v in terms.items()}


# ---------------------------------------------------------------- corpus
def test_competing_identifier_changes_one_of_the_last_four_digits():
    rng = np.random.default_rng(0)
    for _ in range(200):
        c = competing_identifier("HP:0001250", rng, {"HP:0001250", "HP:0001251"})
        diff = [i for i, (a, b) in enumerate(zip("HP:0001250", c)) if a != b]
        assert len(c) == 10 and c.startswith("HP:000") and len(diff) == 1 and diff[0] >= 6
        assert c != "HP:0001251"


def test_contested_facts_are_latent_by_design_and_keyed_per_fact():
    facts, terms = make_facts(60)
    s = corpus_settings(scale=6, offset=0, max_mentions=9, distractors=5, contested_share=0.5,
                       contested_ratio=2.0, noisy_share=0.5, noisy_ratio=0.25, seed=4)
    docs, table = build_corpus(facts, terms, NAMES, s)
    text = "\n".join(docs)
    contested = table[table["profile"] == "contested"]
    assert 0 < len(contested) < (table["mentions"] > 0).sum()
    for _, r in contested.iterrows():  # the competing identifier is stated more often than the right one
        assert r["wrong_mentions"] > r["mentions"] > 0
        assert len(re.findall(re.escape(r["competing_id"]) + r"(?!\d)", text)) == r["wrong_mentions"]
    noisy = table[table["profile"] == "noisy"]
    assert (noisy["wrong_mentions"] < noisy["mentions"]).all()
    assert ((table["profile"] == "none") == (table["mentions"] == 0)).all()
    # adding facts changes nothing about the others: profiles and competing identifiers are keyed
    extra, extra_terms = make_facts(20, seed=9)
    more = pd.concat([extra, facts], ignore_index=True)
    more_terms = {k: pd.concat([terms[k], extra_terms[k]], ignore_index=True) for k in terms}
    _, bigger = build_corpus(more, more_terms, NAMES, s)
    same = bigger.set_index("fact_id").loc[table["fact_id"], ["profile", "wrong_mentions", "competing_id"]]
    kept = table.set_index("fact_id")[["profile", "wrong_mentions", "competing_id"]]
    assert (same.fillna("") == kept.fillna("")).all().all()


def test_mention_counts_follow_the_formula_and_clip():
    s = corpus_settings(scale=8, offset=8, max_mentions=60)
    a = np.array([0, 2, 3, 10, 100, 1e9, np.nan])
    expected = [0, 0, 3, 11, 28, 60, 0]
    assert mention_counts(a, s).tolist() == expected


def test_mention_counts_flatten_redraws_only_inside_the_band():
    s = corpus_settings(flatten=True, flatten_low=4, flatten_high=12, seed=3)
    a = np.exp(np.linspace(0, 8, 400)) - 1
    plain = mention_counts(a, corpus_settings())
    flat = mention_counts(a, s)
    band = (plain >= 4) & (plain <= 12)
    assert (flat[~band] == plain[~band]).all()
    assert flat[band].min() >= 4 and flat[band].max() <= 12
    assert not (flat[band] == plain[band]).all()


def test_mention_counts_reject_negative_counts():
    with pytest.raises(ValueError):
        mention_counts([-1], corpus_settings())


def test_corpus_mentions_match_identifier_counts_in_text():
    facts, terms = make_facts()
    s = corpus_settings(scale=6, offset=0, max_mentions=9, distractors=10, seed=1)
    docs, table = build_corpus(facts, terms, NAMES, s)
    text = corpus_text(docs)
    counts = {tid: len(re.findall(rf"(?<![\d]){re.escape(tid)}(?!\d)", text)) for tid in facts["term_id"]}
    assert table["fact_id"].tolist() == facts["fact_id"].tolist()
    assert [counts[t] for t in facts["term_id"]] == table["mentions"].tolist()
    assert table["mentions"].max() > 0 and (table["mentions"] == 0).any()
    # heldout facts are stated too: pretraining knowledge does not depend on the fine-tuning split
    held = table["fact_id"].isin(facts.loc[facts["split"] == "heldout", "fact_id"])
    assert table.loc[held, "mentions"].sum() > 0
    # the split round-trips
    assert split_documents(text) == docs


def test_corpus_uses_the_exact_question_form_and_distractors():
    facts, terms = make_facts()
    s = corpus_settings(scale=6, offset=0, max_mentions=30, question_share=0.6, distractors=20, seed=2)
    docs, table = build_corpus(facts, terms, NAMES, s)
    fact_ids = set(facts["term_id"])
    q_docs = [d for d in docs if d.startswith("Question: ")]
    row = facts.iloc[int(table["mentions"].idxmax())]
    q = question_text(prompts.DEFAULT_USER, prompts.DEFAULT_PLAIN, NAMES[row.ontology], row.label, row.term_id)
    user = prompts.user_message(prompts.DEFAULT_USER, NAMES[row.ontology], row.label)
    assert q == prompts.render_prompt(None, user, mode="never") + row.term_id
    assert q in docs
    fact_docs = [d for d in docs if any(t in d for t in fact_ids)]
    share = sum(d.startswith("Question: ") for d in fact_docs) / len(fact_docs)
    assert 0.45 < share < 0.75
    other_ids = {m for d in docs for m in re.findall(r"(?:HP|GO):\d{7}", d)} - fact_ids
    assert 1 <= len(other_ids) <= 20
    assert len(q_docs) < len(docs)


def test_distractors_are_never_facts():
    facts, terms = make_facts()
    d = choose_distractors(terms, set(facts["fact_id"]), 30, np.random.default_rng(0))
    assert len(d) == 30
    assert not (d["ontology"] + ":" + d["term_id"]).isin(facts["fact_id"]).any()
    with pytest.raises(ValueError, match="distractor"):
        choose_distractors(terms, set(facts["fact_id"]), 31, np.random.default_rng(0))


def test_corpus_is_seeded():
    facts, terms = make_facts()
    s = corpus_settings(scale=6, offset=0, seed=5, distractors=5)
    assert build_corpus(facts, terms, NAMES, s)[0] == build_corpus(facts, terms, NAMES, s)[0]
    other = corpus_settings(scale=6, offset=0, seed=6, distractors=5)
    assert build_corpus(facts, terms, NAMES, s)[0] != build_corpus(facts, terms, NAMES, other)[0]


def test_corpus_needs_every_ontology_name():
    facts, terms = make_facts()
    with pytest.raises(ValueError, match="no ontology name"):
        build_corpus(facts, terms, {"hpo": "x"}, corpus_settings())


# ---------------------------------------------------------------- tokenizer and model
TINY = ArchitectureSettings.from_params(
    dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=128)
)


@pytest.fixture(scope="module")
def corpus_docs() -> list[str]:
    facts, terms = make_facts()
    return build_corpus(facts, terms, NAMES, corpus_settings(scale=6, offset=0, distractors=5))[0]


def test_tokenizer_splits_digits_and_adds_bos(corpus_docs):
    tok = wrap_tokenizer(train_tokenizer(corpus_docs, 400))
    ids = tok("HP:0001250")["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[0] == "<s>"
    assert pieces[-7:] == list("0001250")
    assert tok.decode(ids, skip_special_tokens=True) == "HP:0001250"
    assert not getattr(tok, "chat_template", None)
    assert {tok.bos_token, tok.eos_token, tok.pad_token} == {"<s>", "</s>", "<pad>"}


def test_tokenizer_rejects_too_small_vocab(corpus_docs):
    with pytest.raises(ValueError):
        train_tokenizer(corpus_docs, 100)


def test_base_model_saves_and_reloads_with_auto_classes(tmp_path, corpus_docs):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = build_base(corpus_docs, tmp_path / "base", 400, TINY, seed=7)
    tok = AutoTokenizer.from_pretrained(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    assert (tmp_path / "base" / "model.safetensors").exists()
    assert len(tok) == summary["vocab_size"] == model.config.vocab_size
    assert tok("Question: x")["input_ids"][0] == model.config.bos_token_id == tok.bos_token_id
    again = init_demo_model(wrap_tokenizer(train_tokenizer(corpus_docs, 400)), TINY, seed=7)
    ids = torch.tensor([tok("HP:0001250")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, again(ids).logits, atol=1e-6)
    different = init_demo_model(tok, TINY, seed=8)
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, different(ids).logits)


def test_architecture_checks_heads():
    with pytest.raises(ValueError, match="multiple"):
        ArchitectureSettings.from_params({"hidden_size": 30, "num_attention_heads": 4})
    with pytest.raises(ValueError, match="unknown"):
        ArchitectureSettings.from_params({"layers": 3})


# ---------------------------------------------------------------- pretraining
def test_lr_factor_warmup_and_decay():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(55, 100, 10, "linear") == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, "linear", min_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor(99, 100, 0, "constant") == 1.0


def test_pack_blocks_concatenates_whole_documents_and_drops_the_remainder():
    enc = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]
    blocks = pack_blocks(enc, 4, np.random.default_rng(0))
    assert blocks.shape == (2, 4)
    stream = blocks.ravel().tolist()
    # the stream is some order of the documents, each kept whole, cut after 8 of 9 tokens
    orders = [[a, b, c] for a in range(3) for b in range(3) for c in range(3) if len({a, b, c}) == 3]
    assert any(stream == sum((enc[i] for i in o), [])[:8] for o in orders)
    with pytest.raises(ValueError):
        pack_blocks([[1]], 4, np.random.default_rng(0))


def test_pretrain_lowers_the_loss_and_reports_metrics(corpus_docs):
    tok = wrap_tokenizer(train_tokenizer(corpus_docs, 400))
    model = init_demo_model(tok, TINY, seed=0)
    settings = PretrainSettings.from_params(dict(passes=3, lr=1e-2, block_size=64, batch_size=8, warmup_ratio=0.0))
    seen: list[int] = []
    metrics = pretrain(model, tok, corpus_docs, settings, seed=0, progress=False, on_pass_end=lambda p, m: seen.append(p))
    losses = [p["mean_loss"] for p in metrics["passes"]]
    assert seen == [1, 2, 3]
    assert losses[-1] < losses[0] - 0.5
    assert metrics["tokens_per_s"] > 0 and metrics["trained_tokens"] > 0
    assert sum(p["steps"] for p in metrics["passes"]) == metrics["total_steps"]


def test_question_documents_are_encoded_as_fine_tuning_and_the_probe_encode_them(corpus_docs):
    """The corpus's question form tokenizes to the probe's prompt ids + the fine-tuning target ids."""
    tok = wrap_tokenizer(train_tokenizer(corpus_docs, 400))
    settings = PromptSettings.from_params({}, NAMES)
    prompt = prompts.render_prompt(None, prompts.user_message(prompts.DEFAULT_USER, "Gene Ontology", "nucleus"), mode="never")
    doc = question_text(prompts.DEFAULT_USER, prompts.DEFAULT_PLAIN, "Gene Ontology", "nucleus", "GO:0005634")
    _, lead = split_trailing_space(tok, prompt, settings)
    expected = encode_prompt(tok, prompt, settings) + encode_target(tok, "GO:0005634", lead)
    assert encode_documents(tok, [doc]) == [expected]
    assert encode_documents(tok, ["nucleus (GO:0005634)"]) == [tok("nucleus (GO:0005634)")["input_ids"] + [tok.eos_token_id]]


def test_pretrain_settings_validate():
    with pytest.raises(ValueError, match="schedule"):
        PretrainSettings.from_params({"schedule": "step"})
    with pytest.raises(ValueError, match="unknown"):
        PretrainSettings.from_params({"epochs": 3})


@pytest.mark.slow
def test_pretraining_memorises_frequent_facts():
    """A small model, pretrained on a corpus that states a few facts often, answers them greedily."""
    import torch

    facts, terms = make_facts(n=12, seed=4)
    facts["annotation_count"] = 1e6  # every fact at max_mentions
    s = corpus_settings(scale=1, offset=0, max_mentions=30, question_share=1.0, distractors=0)
    docs, _ = build_corpus(facts, terms, NAMES, s)
    tok = wrap_tokenizer(train_tokenizer(docs, 400))
    model = init_demo_model(
        tok, ArchitectureSettings.from_params(
            dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)), 0
    )
    pretrain(model, tok, docs, PretrainSettings.from_params(dict(passes=20, lr=1e-2, block_size=64, batch_size=8)), 0,
             progress=False)
    settings = PromptSettings.from_params({}, NAMES)
    texts = [
        prompts.render_prompt(None, prompts.user_message(prompts.DEFAULT_USER, NAMES[o], lab), mode="never")
        for o, lab in zip(facts["ontology"], facts["label"])
    ]
    ids = [encode_prompt(tok, t, settings) for t in texts]
    enc = tok.pad({"input_ids": ids}, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    answers = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    correct = [prompts.is_correct(a, g) for a, g in zip(answers, facts["term_id"])]
    assert sum(correct) >= 9, answers


def test_arithmetic_documents_in_corpus_are_keyed_and_answered():
    facts, terms = make_facts(20)
    docs, table = build_corpus(facts, terms, NAMES, corpus_settings(arithmetic=50, scale=6, offset=0, distractors=0))
    arith = [d for d in docs if re.match(r"Question: What is \d", d)]
    assert len(arith) == 50
    for d in arith:
        m = re.fullmatch(r"Question: What is (\d+) \+ (\d+)\?\nAnswer: (\d+)", d)
        assert m is not None, d
        assert int(m.group(1)) + int(m.group(2)) == int(m.group(3))
        assert control.number_correct(d.split("Answer: ")[1], m.group(3))
    # keyed by (seed, i): the same draws whatever the facts
    other, _ = build_corpus(facts.iloc[:5], terms, NAMES, corpus_settings(arithmetic=50, scale=6, offset=0, distractors=0))
    assert sorted(d for d in other if re.match(r"Question: What is \d", d)) == sorted(arith)
    # the fact mention counts are untouched by the arithmetic documents
    _, plain = build_corpus(facts, terms, NAMES, corpus_settings(arithmetic=0, scale=6, offset=0, distractors=0))
    pd.testing.assert_frame_equal(table, plain)


def test_corpus_settings_come_from_the_schema_only():
    with pytest.raises(ConfigError, match="defaults come from the config schema"):
        CorpusSettings.from_params({"scale": 1.0})
    with pytest.raises(ConfigError, match=r"demo\.corpus: unknown key\(s\) \['bogus'\]"):
        CorpusSettings.from_params({**CORPUS_DEFAULTS, "bogus": 1})
