"""Parameter-level analyses on tiny models: the global restore selection, restore at ratio 0 / 100
against the eval tables, and the update table on a planted update."""

from __future__ import annotations

import pytest
import torch

from factsurv.analysis.parameters import compare_with_eval, restore_summary
from factsurv.io import write_tsv
from factsurv.modeling import checkpoint as ckpt
from factsurv.modeling import parameters as P
from factsurv.modeling.evaluate import evaluate_epoch
from factsurv.modeling.facts import read_facts
from factsurv.modeling.loading import build_trainable_model, describe, model_spec
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.prompts import PromptSettings

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})
EVAL = {"batch_size": 4, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("params")
    facts = root / "facts.tsv"
    write_tsv(synthetic_facts(n_train=6, n_heldout=4), facts)
    return model_spec({"source": "path"}, build_tiny_model(root / "m")), facts, root


def _train(spec, facts, out, method):
    from factsurv.modeling.train import TrainSettings, train_epoch

    params = {"method": method, "lr": 5e-2, "schedule_epochs": 1, "batch_size": 4}
    if method == "lora":
        params["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "down_proj"]}
    train_epoch(spec, facts, 1, out, TrainSettings.from_params(params, seed=1, threads=0), PROMPT)
    return out


@pytest.fixture(scope="module", params=["lora", "full"])
def trained(request, tiny):
    spec, facts, root = tiny
    return request.param, _train(spec, facts, root / f"{request.param}_epoch_1", request.param)


def _chunks(seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(-3, 4, (50,), generator=g).float()  # many ties, zeros of both signs
    a[::7] = -0.0
    return [a, torch.randn(31, generator=g), torch.zeros(5), torch.rand(17, generator=g) * 1e-30]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kth_largest_bisection_equals_kthvalue(seed):
    chunks = _chunks(seed)
    n = sum(c.numel() for c in chunks)
    flat = torch.sort(torch.cat(chunks), descending=True).values
    for k in (1, 2, 7, 50, n // 2, n - 1, n):
        exact = P.kth_largest(lambda: iter(chunks), k, n)
        bis = P.kth_largest(lambda: iter(chunks), k, n, limit=0)
        assert exact == bis == float(flat[k - 1])


def _updates(seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, shape in enumerate([(6, 5), (4,), (3, 7)]):
        base = torch.randn(shape, generator=g)
        tuned = base + torch.randn(shape, generator=g) * (i + 1)
        tuned.view(-1)[:3] = base.view(-1)[:3]  # unchanged elements: relative change 0 (ties)
        out.append(P.Update(f"model.layers.{i}.mlp.up_proj.weight", base, tuned))
    return out


@pytest.mark.parametrize("limit", [P.KTHVALUE_LIMIT, 0])
@pytest.mark.parametrize("ratio", [0, 1, 10, 37.5, 60, 100])
def test_restore_mask_is_a_global_top_k_of_the_relative_change(ratio, limit):
    ups = _updates()
    n = sum(u.numel for u in ups)
    rel = torch.cat([u.relative_change().flatten() for u in ups])
    for strategy in ("top", "bottom"):
        masks = P.restore_mask(ups, ratio, strategy, limit=limit)
        chosen = torch.cat([masks[u.name].flatten() for u in ups])
        k = int(n * ratio / 100)
        assert int(chosen.sum()) == k
        if 0 < k < n:
            if strategy == "top":
                assert rel[chosen].min() >= rel[~chosen].max()
            else:
                assert rel[chosen].max() <= rel[~chosen].min()


def test_random_restore_is_seeded():
    ups = _updates()
    a = P.restore_mask(ups, 20, "random", seed=3)
    b = P.restore_mask(ups, 20, "random", seed=3)
    c = P.restore_mask(ups, 20, "random", seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert sum(int(m.sum()) for m in a.values()) == int(sum(u.numel for u in ups) * 0.2)
    with pytest.raises(Exception, match="strategy"):
        P.restore_mask(ups, 20, "largest")


def test_regions_follow_the_released_code():
    assert P.in_region("model.layers.0.self_attn.q_proj.weight", "transformer")
    assert not P.in_region("model.layers.0.input_layernorm.weight", "transformer")
    assert not P.in_region("model.embed_tokens.weight", "transformer")
    assert not P.in_region("model.norm.weight", "transformer")
    assert P.in_region("model.layers.1.mlp.down_proj.weight", "mlp")
    assert not P.in_region("model.layers.1.mlp.down_proj.weight", "attention")
    assert P.in_region("model.embed_tokens.weight", "all")


def test_restore_ratio_0_is_the_epoch_and_full_restore_is_the_base(tiny, trained):
    """Ratio 0 gives the epoch's eval table exactly; restoring everything the method changed (the
    transformer region for LoRA, every parameter for full fine-tuning) gives epoch 0's exactly."""
    spec, facts_path, _ = tiny
    method, ck = trained
    facts = read_facts(facts_path)
    epoch0 = evaluate_epoch(spec, facts_path, 0, PROMPT, **EVAL)
    epoch1 = evaluate_epoch(spec, facts_path, 1, PROMPT, checkpoint_dir=ck, **EVAL)
    region = "transformer" if method == "lora" else "all"
    per_fact, counts = P.restore_curve(spec, ck, 1, facts, PROMPT, ratios=[0, 50, 100], region=region, **EVAL)
    assert compare_with_eval(per_fact, epoch1, epoch=1, ratio=0) == 0
    assert compare_with_eval(per_fact, epoch0, epoch=1, ratio=100) == 0
    zero = per_fact[per_fact["ratio"] == 0].set_index("fact_id")["answer_logprob"]
    full = per_fact[per_fact["ratio"] == 100].set_index("fact_id")["answer_logprob"]
    # answer log-probabilities (rounded to 6 decimals) agree to the last digit; the LoRA merge of
    # peft in eval and the float32 merge here may round differently there
    tol = 0 if method == "full" else 2e-6
    assert abs(zero.loc[epoch1["fact_id"]].to_numpy() - epoch1["answer_logprob"].to_numpy()).max() <= tol
    assert abs(full.loc[epoch0["fact_id"]].to_numpy() - epoch0["answer_logprob"].to_numpy()).max() <= tol
    # the training moved the answers, so the two ends differ (the test can fail)
    assert not (zero.to_numpy() == full.to_numpy()).all()
    assert [c["n_restored"] for c in counts] == [0, counts[0]["n_region"] // 2, counts[0]["n_region"]]
    table = restore_summary(per_fact, counts, facts.set_index("fact_id")["split"])
    assert set(table["split"]) == {"train", "heldout"} and len(table) == 6
    assert ((table["lower_95"] <= table["recall"]) & (table["recall"] <= table["upper_95"])).all()


def test_lora_update_is_scale_b_a(tiny, trained):
    spec, _, _ = tiny
    method, ck = trained
    eu = P.load_epoch_updates(spec, ck, 1)
    changed = {n for n, u in eu.updates.items() if u.delta().abs().sum() > 0}
    if method == "lora":
        assert changed and all(n.split(".")[-2] in ("q_proj", "v_proj", "down_proj") for n in changed)
        from peft import PeftModel

        peft = PeftModel.from_pretrained(build_trainable_model(spec, "full", {}), str(ck))
        name = sorted(changed)[0]
        layer = peft.get_submodule("base_model.model." + name.rsplit(".", 1)[0])
        b_a = layer.lora_B["default"].weight @ layer.lora_A["default"].weight
        assert torch.allclose(eu.updates[name].delta(), b_a * 2.0, atol=1e-7)  # scale alpha / r
    else:
        assert "model.embed_tokens.weight" in changed


def test_planted_update_is_found_in_its_matrix(tiny, tmp_path):
    """A checkpoint whose only change is 6 entries of one matrix: the update table shows that matrix
    alone, with its size and the share of entries carrying 50 / 90 % of the squared update."""
    spec, _, _ = tiny
    model = build_trainable_model(spec, "full", {})
    target = "model.layers.1.mlp.down_proj.weight"
    with torch.no_grad():
        w = dict(model.named_parameters())[target]
        before = w.detach().clone()
        w.view(-1)[[0, 5, 9, 17, 33, 40]] += torch.tensor([4.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    meta = {"base": describe(spec), "method": "full", "lora": None, "plan": {}, "epoch": 1, "seed": 0}
    ckpt.save(tmp_path / "epoch_1", model, meta, {})
    rows = P.update_rows(P.load_epoch_updates(spec, tmp_path / "epoch_1", 1))
    moved = [r for r in rows if r["update_norm"] > 0]
    assert [r["parameter"] for r in moved] == [target]
    r = moved[0]
    assert r["layer"] == 1 and r["module"] == "down_proj"
    assert r["relative_update"] == pytest.approx(torch.sqrt(torch.tensor(21.0)).item() / before.norm().item(), rel=1e-5)
    n = before.numel()
    assert r["share_50"] == pytest.approx(1 / n)  # 16 of 21 in the one large entry
    assert r["share_90"] == pytest.approx(4 / n)  # 16 + 1 + 1 + 1 = 19 ≥ 18.9
    assert r["changed_share"] == pytest.approx(6 / n)
