"""Where attention goes (factsurv.modeling.attention): the label's tokens are found in the prompt,
the mass is the attention of the answer-predicting positions on them, and the loss plateau."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from factsurv.modeling import loading
from factsurv.modeling.attention import attention_rows, chosen_facts, label_positions, plateau_epoch
from factsurv.modeling.facts import read_facts
from support.tiny_models import build_tiny_model, synthetic_facts
from factsurv.io import write_tsv
from factsurv.prompts import PromptSettings, encode_prompt, render_prompts, split_trailing_space

PROMPT = PromptSettings.from_params({}, {"hpo": "Human Phenotype Ontology", "go": "Gene Ontology"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("attn")
    write_tsv(synthetic_facts(n_train=4, n_heldout=0), root / "facts.tsv")
    spec = loading.model_spec({"source": "path", "attn_implementation": "eager"}, build_tiny_model(root / "m"))
    return spec, read_facts(root / "facts.tsv")


def test_the_label_tokens_are_found_and_the_mass_is_their_attention(tiny):
    spec, facts = tiny
    tok = loading.load_tokenizer(spec)
    model = loading.load_model(spec, device="cpu")
    model.eval()
    row = facts.iloc[[0]].reset_index(drop=True)
    text = render_prompts(tok, row, PROMPT)[0]
    ids = encode_prompt(tok, text, PROMPT)
    keys = label_positions(tok, split_trailing_space(tok, text, PROMPT)[0], row["label"][0], ids)
    assert keys and row["label"][0].replace(" ", "") in tok.decode([ids[k] for k in keys]).replace(" ", "")
    rows, used, loss = attention_rows(model, tok, row, PROMPT, epoch=0, device="cpu")
    assert used == 1 and {r["layer"] for r in rows} == set(range(model.config.num_hidden_layers))
    assert all(0.0 <= r["mass"] <= 1.0 for r in rows)
    assert rows[0]["label_share"] == pytest.approx(len(keys) / len(ids))
    # by hand: layer 0, head 0
    from factsurv.prompts import encode_target

    t = encode_target(tok, row["term_id"][0], split_trailing_space(tok, text, PROMPT)[1])
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids + t]), labels=torch.tensor([[-100] * len(ids) + t]),
                    output_attentions=True)
    att = out.attentions[0][0, 0]
    queries = range(len(ids) - 1, len(ids) + len(t) - 1)
    expected = sum(float(att[q, keys].sum()) for q in queries) / len(queries)
    assert rows[0]["mass"] == pytest.approx(expected, rel=1e-5)
    assert loss == pytest.approx(float(out.loss), rel=1e-4)  # the correct answer's loss, as training has it


def test_chosen_facts_are_keyed_not_ordered():
    a = chosen_facts(["x", "y", "z", "w"], 2, 0)
    assert len(a) == 2 and a == chosen_facts(["w", "z", "y", "x"], 2, 0)


def test_the_loss_plateau():
    loss = pd.DataFrame({"epoch": range(6), "answer_loss": [3.0, 2.0, 1.0, 0.52, 0.5, 0.5]})
    assert plateau_epoch(loss, 0.05) == 3 and plateau_epoch(loss, 0.001) == 4
    assert plateau_epoch(loss.iloc[:0]) is None
