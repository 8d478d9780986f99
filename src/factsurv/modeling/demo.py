"""The offline demo model (SPEC §5): a byte-level BPE tokenizer and a small Llama built from a config.

The tokenizer is trained with ``tokenizers`` on the demo corpus. Digits are split one by one before
the byte-level step, so ``HP:0001250`` becomes ``HP : 0 0 0 1 2 5 0`` and the model has to learn an
identifier digit by digit (as large models' tokenizers make them do). Every encoded text starts with
the ``<s>`` token; ``</s>`` ends a document in pretraining and an answer in fine-tuning; ``<pad>``
pads batches. The tokenizer has no chat template, so prompts use the plain format.

Both are saved with ``save_pretrained`` so that ``AutoTokenizer`` / ``AutoModelForCausalLM``
load them like any Hugging Face model (in transformers 5 the tokenizer comes back as
``TokenizersBackend``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = (PAD, BOS, EOS)


@dataclass(frozen=True)
class ArchitectureSettings:
    """Sizes of the demo Llama (config ``models.<name>.demo.architecture``). No defaults here:
    :meth:`from_params` fills what ``architecture`` leaves out from the config schema."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    max_position_embeddings: int
    tie_word_embeddings: bool

    @classmethod
    def from_params(cls, architecture: Mapping[str, Any]) -> "ArchitectureSettings":
        """An unknown key, or heads that do not divide the hidden size, raise
        :class:`factsurv.config.ConfigError`."""
        from factsurv.config import ConfigError, refuse_unknown_keys, section_defaults

        section = "models.<name>.demo.architecture"
        refuse_unknown_keys(architecture, cls.__dataclass_fields__, section)
        s = cls(**{**section_defaults("definitions.demo_model.architecture"), **architecture})
        if s.hidden_size % s.num_attention_heads:
            raise ConfigError(f"config error at {section}.hidden_size: {s.hidden_size} is not a multiple of "
                              f"num_attention_heads {s.num_attention_heads}")
        return s


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` with individual digits and ``<s>`` prepended.

    ``vocab_size`` counts the 256 byte symbols and the special tokens; BPE stops early when the
    corpus has no more merges, so the result may be smaller.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size {vocab_size} is below the 256 bytes + {len(SPECIAL_TOKENS)} special tokens")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def wrap_tokenizer(tok: Any) -> Any:
    """The ``transformers`` tokenizer around a ``tokenizers.Tokenizer`` (no chat template)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, padding_side="left",
        model_max_length=1_000_000,
    )


def init_demo_model(tokenizer: Any, arch: ArchitectureSettings, seed: int) -> Any:
    """An untrained ``LlamaForCausalLM`` sized by ``arch`` for ``tokenizer``, initialised with ``seed``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_attention_heads,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def build_base(
    corpus_docs: list[str],
    out_dir: str | Path,
    vocab_size: int,
    arch: ArchitectureSettings,
    seed: int,
) -> dict[str, Any]:
    """Train the tokenizer on the corpus, build the model, save both to ``out_dir``; return a summary."""
    tok = wrap_tokenizer(train_tokenizer(corpus_docs, vocab_size))
    model = init_demo_model(tok, arch, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    model.save_pretrained(out)
    return {
        "vocab_size": len(tok),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "architecture": asdict(arch),
        "seed": seed,
    }
