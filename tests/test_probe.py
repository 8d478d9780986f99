"""The baseline probe: one greedy source (eval epoch 0), batch-invariant samples, mastery levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from factsurv.io import read_tsv, write_tsv
from factsurv.modeling import generation
from factsurv.modeling.evaluate import evaluate_epoch, greedy_table
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts
from factsurv.modeling.generation import generate_answers, sample_noise
from factsurv.modeling.loading import load_model, load_tokenizer, model_spec
from factsurv.modeling.probe import ProbeSettings, mastery, probe_baseline, probe_table
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.tables import MASTERY_LEVELS, PROBE_COLUMNS

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


def settings(**kw) -> ProbeSettings:
    base = dict(k=3, temperature=1.0, top_p=1.0, seed=5, batch_size=4, max_new_tokens=6)
    return ProbeSettings.from_params({**base, **kw}, threads=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("probe")
    return model_spec({"source": "path"}, build_tiny_model(root / "m")), root


@pytest.fixture(scope="module")
def loaded(tiny):
    spec, _ = tiny
    return load_model(spec), load_tokenizer(spec)


def test_probe_columns_and_greedy_from_eval_epoch_0(tiny, tmp_path):
    spec, _ = tiny
    facts = tmp_path / "facts.tsv"
    df = synthetic_facts(n_train=5, n_heldout=3)
    write_tsv(df, facts)
    e0 = evaluate_epoch(spec, facts, 0, PROMPT, batch_size=3, max_new_tokens=6)
    write_tsv(e0, tmp_path / "epoch_0.tsv")
    table = probe_baseline(spec, facts, tmp_path / "epoch_0.tsv", PROMPT, settings())
    assert list(table.columns) == list(PROBE_COLUMNS)
    assert list(table["fact_id"]) == list(df["fact_id"])
    assert list(table["greedy_prediction"]) == list(e0["prediction"])
    assert list(table["greedy_correct"]) == list(e0["correct"])
    assert all(len(s.split(" || ")) == 3 for s in table["samples"])
    write_tsv(table, tmp_path / "p.tsv")
    assert len(read_tsv(tmp_path / "p.tsv", PROBE_COLUMNS)) == len(df)
    again = probe_baseline(spec, facts, tmp_path / "epoch_0.tsv", PROMPT, settings())
    assert list(again["samples"]) == list(table["samples"])


def _samples(model, tok, facts: pd.DataFrame, batch_size: int, k: int = 6) -> dict[str, list[str]]:
    ids = [encode_prompt(tok, p, PROMPT) for p in render_prompts(tok, facts, PROMPT)]
    out = generate_answers(model, tok, ids, keys=list(facts["fact_id"]), batch_size=batch_size,
                           max_new_tokens=8, num_samples=k, temperature=1.5, seed=3)
    return {f: [a.text for a in s] for f, s in zip(facts["fact_id"], out)}


def test_samples_do_not_depend_on_batch_or_other_facts(loaded):
    model, tok = loaded
    facts = synthetic_facts(n_train=70, n_heldout=0, seed=2)
    in_batch = _samples(model, tok, facts, batch_size=64)
    shuffled = _samples(model, tok, facts.sample(frac=1.0, random_state=4), batch_size=7)
    alone = {f: _samples(model, tok, facts[facts["fact_id"] == f], batch_size=1)[f]
             for f in list(facts["fact_id"])[:5]}
    assert shuffled == in_batch
    for f, s in alone.items():
        assert s == in_batch[f]
    # the samples do vary (the test could fail): more than one distinct answer for most facts
    assert sum(len(set(s)) > 1 for s in in_batch.values()) > len(in_batch) // 2


def test_gumbel_noise_is_keyed_not_positional():
    g = sample_noise(0, "b", 2, 3, 500)
    assert g.shape == (500,) and np.isfinite(g).all()
    assert (sample_noise(0, "b", 2, 3, 500) == g).all()  # a function of (seed, key, sample, step)
    assert (sample_noise(0, "b", 2, 3, 800)[:500] == g).all()  # entry v does not depend on the vocabulary size
    for other in (sample_noise(1, "b", 2, 3, 500), sample_noise(0, "a", 2, 3, 500),
                  sample_noise(0, "b", 3, 3, 500), sample_noise(0, "b", 2, 4, 500)):
        assert (other == g).mean() < 0.01
    # standard Gumbel: mean = Euler's gamma (0.5772), variance pi^2 / 6
    many = np.concatenate([sample_noise(0, str(k), 0, 0, 2000) for k in range(50)])
    assert abs(many.mean() - 0.5772) < 0.02 and abs(many.var() - np.pi ** 2 / 6) < 0.06


def test_tensor_hash_is_splitmix64_in_uint64_arithmetic():
    """The int64 tensor version wraps exactly as uint64 arithmetic does (checked against Python ints)."""
    from factsurv.modeling.generation import _GOLDEN, _MASK, _mix64, _srl, _mix_tensor, _signed, row_word

    w = row_word(7, "hpo:HP:0001250", 3, 11)
    x = torch.tensor([_signed(w)], dtype=torch.int64)[:, None] + torch.arange(1, 6) * _signed(_GOLDEN)
    got = [v & _MASK for v in _srl(_mix_tensor(x), 40)[0].tolist()]
    assert got == [_mix64(w + (v + 1) * _GOLDEN) >> 40 for v in range(5)]


def test_gumbel_max_draws_follow_the_softmax():
    """Gumbel-max at temperature T samples softmax(logits / T), and top-p keeps only the nucleus."""
    import torch

    from factsurv.modeling.generation import _choose

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    n = 4000
    rows = torch.zeros(n, dtype=torch.long)
    noise = torch.from_numpy(np.stack([sample_noise(3, "x", j, 0, 4) for j in range(n)])).float()
    for temperature in (1.0, 0.5):
        drawn = np.bincount(_choose(logits, rows, noise, temperature, 1.0).numpy(), minlength=4) / n
        expected = torch.softmax(logits[0] / temperature, -1).numpy()
        assert np.abs(drawn - expected).max() < 0.03, (temperature, drawn, expected)
    # softmax = (0.644, 0.237, 0.087, 0.032): top_p 0.8 keeps the first two tokens only
    drawn = np.bincount(_choose(logits, rows, noise, 1.0, 0.8).numpy(), minlength=4) / n
    assert drawn[2:].sum() == 0 and abs(drawn[0] - 0.644 / 0.881) < 0.03
    assert (_choose(logits, torch.zeros(2, dtype=torch.long), None, 1.0, 1.0) == 0).all()


def test_greedy_is_the_same_code_path(loaded):
    model, tok = loaded
    facts = synthetic_facts(n_train=9, n_heldout=0)
    a = greedy_table(model, tok, facts, PROMPT, batch_size=2, max_new_tokens=8)
    b = greedy_table(model, tok, facts, PROMPT, batch_size=9, max_new_tokens=8)
    assert list(a["prediction"]) == list(b["prediction"])
    assert (a["answer_tokens"] > 0).all() and (a["answer_logprob"] <= 0).all()


def test_latent_mastery_and_p_correct(loaded, monkeypatch):
    """Greedy (from epoch 0) wrong + some sample right → latent; the four SliCK levels."""
    model, tok = loaded
    facts = synthetic_facts(n_train=4, n_heldout=0)
    right = {0: 4, 1: 2, 2: 1, 3: 0}

    def fake(model, tokenizer, prompt_ids, keys=None, num_samples=0, **kw):
        out = []
        for key in keys:
            i = list(facts["fact_id"]).index(key)
            g = facts["term_id"].iloc[i]
            texts = [g.lower()] * right[i] + [f"{g}1"] * (num_samples - right[i])  # 8 digits: wrong
            out.append([generation.Answer(t, -1.0, 3) for t in texts])
        return out

    monkeypatch.setattr(generation, "generate_answers", fake)
    greedy = pd.DataFrame({"fact_id": facts["fact_id"], "epoch": 0, "prediction": ["x"] * 4,
                           "correct": [1, 1, 0, 0]})
    t = probe_table(model, tok, facts, greedy, PROMPT, settings(k=4))
    assert list(t["n_correct_samples"]) == [4, 2, 1, 0]
    assert list(t["p_correct"]) == [1.0, 0.5, 0.25, 0.0]
    assert list(t["latent"]) == [0, 0, 1, 0]
    assert list(t["mastery"]) == list(MASTERY_LEVELS)


def test_mastery_levels():
    assert mastery(1, 5, 5) == "highly_known"
    assert mastery(1, 0, 5) == "maybe_known"
    assert mastery(0, 1, 5) == "weakly_known"
    assert mastery(0, 0, 5) == "unknown"


def _step_by_step_greedy(model, tok, ids: list[list[int]], max_new_tokens: int) -> list[str]:
    """The reference: one prompt at a time, no cache, the whole sequence through the model at every
    step, argmax, the same stop rule (EOS, or an identifier followed by a non-digit / an 8th digit)."""
    pattern = generation._stop_pattern(PROMPT.prefixes)
    stops = generation.eos_ids(model, tok)
    out = []
    with torch.inference_mode():
        for p in ids:
            seq, answer = list(p), []
            for _ in range(max_new_tokens):
                nxt = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
                if nxt in stops:
                    break
                answer.append(nxt)
                seq.append(nxt)
                if pattern.search(tok.decode(answer)):
                    break
            out.append(generation.clean(tok.decode(answer, skip_special_tokens=True)))
    return out


@pytest.fixture(scope="module")
def sharp(tiny):
    """The tiny model with sharp attention and spread logits: its answers depend on every token and
    position of the prompt (the untouched one mostly repeats one token), so a decoding bug shows."""
    spec, _ = tiny
    model = load_model(spec)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "q_proj" in name or "k_proj" in name:
                p.mul_(16.0)
            elif "norm" not in name and "embed" not in name:
                p.mul_(3.0)
    return model, load_tokenizer(spec)


def test_greedy_equals_step_by_step_decoding_whatever_the_batches(sharp):
    """Greedy answers are those of plain step-by-step decoding, with any batch size and prompt order
    (prompts of different lengths: padding; some sharing a beginning: the shared prefill)."""
    model, tok = sharp
    rng = __import__("random").Random(5)
    vocab = len(tok)
    template = [rng.randrange(3, vocab) for _ in range(6)]
    ids = [(template if i % 2 else []) + [rng.randrange(3, vocab) for _ in range(rng.randrange(2, 9))]
           for i in range(20)]
    ref = _step_by_step_greedy(model, tok, ids, max_new_tokens=7)
    assert len(set(ref)) > 15  # the answers differ between prompts (the comparison can fail)
    for bs in (1, 3, 64):
        got = [a[0].text for a in generate_answers(model, tok, ids, batch_size=bs, max_new_tokens=7)]
        assert got == ref, bs
    perm = list(reversed(range(len(ids))))
    got = generate_answers(model, tok, [ids[i] for i in perm], batch_size=4, max_new_tokens=7)
    assert [got[perm.index(i)][0].text for i in range(len(ids))] == ref


def test_batches_group_shared_beginnings_and_ignore_input_order():
    from collections import Counter

    from factsurv.modeling.generation import batch_order, make_batches

    rng = __import__("random").Random(3)
    for _ in range(200):
        n, bs = rng.randrange(1, 40), rng.randrange(1, 12)
        prompts_ = [[rng.randrange(3) for _ in range(rng.randrange(1, 7))] for _ in range(n)]
        batches = make_batches(prompts_, bs)
        order = batch_order(prompts_, bs)
        assert sorted(order) == list(range(n)) and order == [i for b in batches for i in b]
        assert all(1 <= len(b) <= bs for b in batches)
        # against a brute-force count of every prefix: each prompt is grouped under the longest
        # beginning at least two batches' worth of prompts share, longest prompts first within a
        # group, and no batch spans two groups
        need = max(2, min(2 * bs, n))
        count = Counter(tuple(x[:i]) for x in prompts_ for i in range(1, len(x) + 1))

        def group(x):
            d = 0
            while d < len(x) and count[tuple(x[:d + 1])] >= need:
                d += 1
            return tuple(x[:d])

        assert order == sorted(range(n), key=lambda i: (group(prompts_[i]), -len(prompts_[i]), tuple(prompts_[i]), i))
        assert all(len({group(prompts_[i]) for i in b}) == 1 for b in batches)
        # the batches are the same whatever order the prompts come in
        perm = rng.sample(range(n), n)
        again = make_batches([prompts_[i] for i in perm], bs)
        assert sorted(tuple(sorted(map(tuple, (prompts_[i] for i in b)))) for b in batches) == \
            sorted(tuple(sorted(map(tuple, (prompts_[perm[i]] for i in b)))) for b in again)
    # two templates (HPO, GO questions): a batch holds one template, so its shared part is long
    hpo = [[1, 5, 6, 7, 9, t] for t in range(10, 18)]
    go = [[1, 5, 6, 8, t, t, 3] for t in range(20, 28)]
    batches = make_batches(go[:3] + hpo + go[3:], 4)
    assert sorted(sorted(b) for b in batches) == [[0, 1, 2, 11], [3, 4, 5, 6], [7, 8, 9, 10], [12, 13, 14, 15]]
