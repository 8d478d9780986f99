"""Tiny random Llama models and synthetic fact tables, for tests and benchmarks (no hub needed).

Not the demo model (that one is built and pretrained by the workflow): these are untrained
models of a chosen shape, saved in HF format so every loader path is exercised.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pandas as pd


def synthetic_facts(n_train: int = 16, n_heldout: int = 8, seed: int = 0) -> pd.DataFrame:
    """A facts.tsv-shaped table with made-up HPO/GO facts."""
    rng = random.Random(seed)
    words = ["abnormal", "seizure", "kidney", "liver", "heart", "muscle", "bone", "skin",
             "growth", "nucleus", "membrane", "mitochondrion", "vesicle", "complex", "lobe"]
    rows = []
    for i in range(n_train + n_heldout):
        onto = "hpo" if i % 2 == 0 else "go"
        prefix = "HP" if onto == "hpo" else "GO"
        term = f"{prefix}:{rng.randrange(10**7):07d}"
        label = " ".join(rng.sample(words, 2)) + f" {i}"
        rows.append({"fact_id": f"{onto}:{term}", "ontology": onto, "term_id": term, "label": label,
                     "split": "train" if i < n_train else "heldout"})
    return pd.DataFrame(rows)


def build_tiny_model(
    path: str | os.PathLike[str],
    *,
    hidden_size: int = 32,
    intermediate_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    vocab_size: int = 400,
    seed: int = 0,
    texts: list[str] | None = None,
) -> Path:
    """A random Llama model + byte-level BPE tokenizer (digits split) saved with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = texts or [
        'Question: What is the Human Phenotype Ontology identifier for "abnormal seizure"? '
        "Answer with the identifier only.\nAnswer: HP:0001250",
        'Question: What is the Gene Ontology identifier for "nucleus"? Answer: GO:0005634',
    ] * 4
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
        max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path
