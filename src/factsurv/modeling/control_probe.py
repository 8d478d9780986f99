"""The control probe after every epoch: ``results/{run}/control/epoch_{e}.tsv``.

Every out-of-domain item of ``results/control/items.tsv`` (:mod:`factsurv.control`) is asked in the
facts' prompt format (the chat template, or the plain ``Question: …\\nAnswer: `` that the demo
corpus states its arithmetic in) and answered greedily by the same decoding loop as the facts
(:func:`factsurv.modeling.generation.generate_answers`); an answer ends at the end token or after
``control.max_new_tokens`` tokens. Columns: :data:`factsurv.tables.CONTROL_COLUMNS`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import pandas as pd

from factsurv import control, prompts
from factsurv.io import InputError, read_tsv
from factsurv.modeling.evaluate import load_epoch_model
from factsurv.prompts import PromptSettings, encode_prompt
from factsurv.tables import CONTROL_COLUMNS, CONTROL_ITEM_COLUMNS

log = logging.getLogger("factsurv")


def read_items(path: str | os.PathLike[str]) -> pd.DataFrame:
    items = read_tsv(path, CONTROL_ITEM_COLUMNS, dtype={c: str for c in CONTROL_ITEM_COLUMNS})
    if items["item_id"].duplicated().any():
        raise InputError(f"{path}: duplicate item_id(s) {sorted(set(items['item_id'][items['item_id'].duplicated()]))[:5]}")
    unknown = sorted(set(items["kind"]) - set(control.CONTROL_KINDS))
    if unknown:
        raise InputError(f"{path}: unknown item kind(s) {unknown} (known: {', '.join(control.CONTROL_KINDS)})")
    return items


def control_prompt_ids(tokenizer: Any, questions: Any, prompt: PromptSettings) -> list[list[int]]:
    """Token ids of each control question in the facts' prompt format (chat template with the fixed
    ``prompt.date``, or plain)."""
    return [encode_prompt(tokenizer, prompts.render_user(tokenizer, q, prompt), prompt) for q in questions]


def control_table(model: Any, tokenizer: Any, items: pd.DataFrame, prompt: PromptSettings, *,
                  batch_size: int, max_new_tokens: int) -> pd.DataFrame:
    """item_id, kind, prediction, correct for every item (greedy)."""
    from tqdm.auto import tqdm

    from factsurv.modeling.generation import generate_answers

    ids = control_prompt_ids(tokenizer, items["question"], prompt)
    bar = tqdm(total=len(ids), desc="control", file=sys.stderr, mininterval=5, ascii=True)
    answers = generate_answers(model, tokenizer, ids, keys=list(items["item_id"]), batch_size=batch_size,
                               max_new_tokens=max_new_tokens, prefixes=prompt.prefixes, progress=bar)
    bar.close()
    pred = [a[0].text for a in answers]
    correct = [int(control.is_correct(k, p, g, q))
               for k, p, g, q in zip(items["kind"], pred, items["answer"], items["question"])]
    return pd.DataFrame({"item_id": items["item_id"].to_numpy(), "kind": items["kind"].to_numpy(),
                         "prediction": pred, "correct": correct})


def control_epoch(spec: dict[str, Any], items_path: str | os.PathLike[str], epoch: int, prompt: PromptSettings, *,
                  checkpoint_dir: str | os.PathLike[str] | None = None, batch_size: int, max_new_tokens: int,
                  threads: int = 0, device: str | None = None) -> pd.DataFrame:
    """The control table of one epoch (epoch 0: ``checkpoint_dir`` None, the untouched model)."""
    epoch = int(epoch)
    items = read_items(items_path)
    t0 = time.perf_counter()
    model, tokenizer = load_epoch_model(spec, epoch, checkpoint_dir, threads=threads, device=device)
    table = control_table(model, tokenizer, items, prompt, batch_size=batch_size, max_new_tokens=max_new_tokens)
    table.insert(2, "epoch", epoch)
    acc = table.groupby("kind")["correct"].mean().round(4).to_dict()
    log.info("epoch %d: %d control items in %.1f s; accuracy by kind %s", epoch, len(table),
             time.perf_counter() - t0, acc)
    return table[list(CONTROL_COLUMNS)]
