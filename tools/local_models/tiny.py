"""The built-in ``tiny-random-llama``: a small Llama with seeded random weights and a byte-level tokenizer.

Nothing is downloaded. The tokenizer is a byte-level BPE with no merges (one token per byte: any text
round-trips), four special tokens and a ChatML chat template, wrapped as a ``PreTrainedTokenizerFast``
so that ``apply_chat_template``, offsets and ``save_pretrained`` work like any hub tokenizer. The model
is a ``LlamaForCausalLM`` built from a ``LlamaConfig`` whose weights come from ``torch.manual_seed(seed)``,
so the same seed always gives the same base model: a run records only the seed and can be reproduced.

It exists so that the demo and the tests really train (LoRA on all linear layers, on CPU, in seconds).
Heavy imports stay inside the functions.
"""

from __future__ import annotations

from typing import Any

from tools.local_models.templates import CHATML_TEMPLATE

TINY_MODEL_ID = "tiny-random-llama"

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")

# Small enough to train on two CPU cores in seconds, big enough for the loss to fall visibly.
TINY_DIMS: dict[str, int] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
}

TINY_INIT_RANGE = 0.2
"""Weight std. Llama's 0.02 with a frozen random head keeps every logit near 0 (the final RMSNorm caps the
hidden size), so the loss could not move far from uniform; 0.2 lets LoRA reach a real distribution."""


def is_tiny(model: str | None) -> bool:
    return (model or "").strip().lower() == TINY_MODEL_ID


def build_tokenizer() -> Any:
    """A byte-level ``PreTrainedTokenizerFast`` (256 byte tokens + 4 specials) with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
        model_max_length=TINY_DIMS["max_position_embeddings"],
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def build_model(seed: int = 0, tokenizer: Any | None = None) -> Any:
    """A ``LlamaForCausalLM`` with random weights drawn from ``seed`` (fp32, on CPU)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer if tokenizer is not None else build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        rms_norm_eps=1e-6,
        initializer_range=TINY_INIT_RANGE,
        **TINY_DIMS,
    )
    fork = torch.random.fork_rng(devices=[])
    with fork:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.config.name_or_path = TINY_MODEL_ID
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


__all__ = ["CHATML_TEMPLATE", "TINY_MODEL_ID", "build_model", "build_tokenizer", "is_tiny"]
