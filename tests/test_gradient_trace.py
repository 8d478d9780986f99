"""The shared-parameter trace (factsurv.modeling.gradient_trace): a planted subset that two example
formats share is recovered exactly, and the model-level trace runs on a tiny Llama."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from factsurv.modeling.gradient_trace import accumulate, gini, shared_tables, top_masks, trace_examples

A = "model.layers.0.mlp.up_proj.weight"
B = "model.layers.1.self_attn.q_proj.weight"


def planted():
    """Two matrices; statements pull on A[0, :10] and the shared block B[0, :10], questions on
    A[1, :10] and B[0, :10]: the shared set is B[0, :10], in layer 1, in head 0 of q_proj."""
    torch.manual_seed(0)
    params = {A: torch.nn.Parameter(torch.randn(4, 20)), B: torch.nn.Parameter(torch.randn(4, 20))}
    g = torch.Generator().manual_seed(1)

    def losses(row):
        for _ in range(5):
            x, y = torch.rand(10, generator=g) + 0.5, torch.rand(10, generator=g) + 0.5
            yield lambda x=x, y=y: (params[A][row, :10] * x).sum() + (params[B][0, :10] * y).sum()

    return params, losses


def test_a_planted_shared_subset_is_recovered():
    params, losses = planted()
    s_score, s_sum, n_s = accumulate(params, losses(0))
    q_score, q_sum, n_q = accumulate(params, losses(1))
    assert n_s == n_q == 5
    # 20 of 160 elements per format: exactly each format's support
    rows, summary = shared_tables(s_score, q_score, s_sum, q_sum, percent=12.5, top_units_percent=50, head_dim=10,
                                  epoch=3)
    by = {r["parameter"]: r for r in rows}
    assert summary["n_statement_top"] == 20 and summary["n_question_top"] == 20
    assert summary["n_shared"] == 10 and by[B]["n_shared"] == 10 and by[A]["n_shared"] == 0
    assert summary["shared_share"] == 0.5 and summary["jaccard"] == pytest.approx(10 / 30)
    assert summary["expected_shared"] == pytest.approx(20 * 20 / 160)
    assert summary["top_units_share"] == 1.0  # all of it in head 0 of layer 1's q_proj
    assert summary["gini_layers"] == pytest.approx(0.5)  # 2 layers, all in one: (n-1)/n
    masks = {k: top_masks({A: s_score[A], B: s_score[B]}, 12.5)[k] for k in (A, B)}
    assert masks[B][0, :10].all() and int(masks[B].sum()) == 10 and masks[A][0, :10].all()
    assert by[A]["cosine"] == pytest.approx(0.0) and by[B]["cosine"] > 0.9  # disjoint rows; one shared direction


def test_grad_x_weight_scales_by_the_weight():
    params, losses = planted()
    g, _, _ = accumulate(params, losses(0), "grad")
    params, losses = planted()  # the same weights and the same draws again
    gw, _, _ = accumulate(params, losses(0), "grad_x_weight")
    assert torch.allclose(gw[A], g[A] * params[A].detach().abs())
    with pytest.raises(Exception, match="not one of"):
        accumulate(params, losses(0), "hessian")


def test_top_masks_take_exactly_k_with_ties():
    scores = {A: torch.ones(3, 4), B: torch.zeros(2, 2)}
    masks = top_masks(scores, 50)  # 8 of 16: the first 8 of the 12 tied ones
    assert int(masks[A].sum()) == 8 and int(masks[B].sum()) == 0
    assert masks[A].flatten()[:8].all() and not masks[A].flatten()[8:].any()


def test_gini():
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)
    assert math.isnan(gini([0, 0]))


def test_trace_examples_take_facts_with_both_formats():
    plan = pd.DataFrame({
        "epoch": [1, 1, 1, 2, 2, 1], "position": [0, 1, 2, 0, 1, 3],
        "fact_id": ["a", "a", "b", "a", "c", "c"],
        "format": ["statement", "question", "statement", "statement", "question", "question"],
        "text": ["A is 1.", "", "B is 2.", "A has id 1.", "", ""],
    })
    ex = trace_examples(plan, None, 0)
    assert list(ex["fact_id"]) == ["a", "a"] and set(ex["format"]) == {"question", "statement"}
    assert ex[ex["format"] == "statement"]["text"].item() == "A is 1."  # the first statement
    with pytest.raises(Exception, match="both as a statement and as a question"):
        trace_examples(plan[plan["fact_id"] != "a"], None, 0)


def test_the_trace_of_a_tiny_llama_epoch(tmp_path):
    """The model-level trace on a trained tiny Llama (full fine-tuning, epoch 1) and its base
    (epoch 0): the tables have their columns, every region matrix is there, the sets are sized."""
    from factsurv.designs import build_plan
    from factsurv.io import write_tsv
    from factsurv.modeling.facts import read_facts
    from factsurv.modeling.gradient_trace import gradient_trace
    from factsurv.modeling.loading import model_spec
    from support.tiny_models import build_tiny_model, synthetic_facts
    from factsurv.modeling.train import TrainSettings, train_epoch
    from factsurv.prompts import PromptSettings
    from factsurv.tables import GRADIENT_SHARED_COLUMNS, GRADIENT_TRACE_COLUMNS

    names = {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"}
    prompt = PromptSettings.from_params({}, names)
    path = tmp_path / "facts.tsv"
    write_tsv(synthetic_facts(n_train=6, n_heldout=2), path)
    spec = model_spec({"source": "path"}, build_tiny_model(tmp_path / "m"))
    facts = read_facts(path)
    train = facts[facts["split"] == "train"]
    from factsurv.designs import default_design

    design = {**default_design(), "strategy": "mixed"}
    plan = build_plan(train, design, 1, 1, names)
    settings = TrainSettings.from_params({"method": "full", "lr": 1e-2, "schedule_epochs": 1, "batch_size": 4},
                                         seed=1, threads=0)
    ckpt_dir = tmp_path / "epoch_1"
    train_epoch(spec, path, 1, ckpt_dir, settings, prompt)
    for epoch, folder in ((0, None), (1, ckpt_dir)):
        rows, summary = gradient_trace(spec, folder, epoch, facts, plan, prompt, top_percent=5, top_units_percent=10)
        assert set(GRADIENT_SHARED_COLUMNS) <= set(summary) and all(set(GRADIENT_TRACE_COLUMNS) <= set(r) for r in rows)
        assert summary["n_facts"] == 6 and summary["epoch"] == epoch
        assert summary["n_statement_top"] == summary["n_question_top"] == int(summary["n_region"] * 0.05)
        assert 0 <= summary["n_shared"] <= summary["n_statement_top"]
        assert {r["module"] for r in rows} >= {"q_proj", "down_proj"}
        assert all(r["statement_score"] > 0 and r["question_score"] > 0 for r in rows)
