"""Chat templates we give tokenizers that ship without one, and the choice between them.

A base model's tokenizer often has no chat template. We give it ChatML. When the vocabulary has ChatML's
markers as single special tokens (Qwen, the built-in tiny model) the assistant turn ends with ``<|im_end|>``,
which is then the token generation stops on. When it does not (Gemma 3's vocabulary has no
``<|im_start|>``/``<|im_end|>``: they split into plain text pieces), the end marker is text the model never
stops on, so each assistant turn is closed with the tokenizer's EOS as well (:data:`CHATML_EOS_TEMPLATE`);
the preflight checks that the trained span of every assistant turn ends with a token the model's generation
config stops on.
"""

from __future__ import annotations

from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""ChatML, used by the tiny model and for any tokenizer without a template whose vocabulary has ChatML's tokens."""

CHATML_EOS_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""ChatML whose assistant turns end with the tokenizer's EOS, for vocabularies without ChatML's tokens."""

CHATML_END = "<|im_end|>"


def has_single_token(tokenizer: Any, text: str) -> bool:
    """True when ``text`` is one token of the vocabulary (not split into pieces, not the unknown token)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return len(ids) == 1 and ids[0] != getattr(tokenizer, "unk_token_id", None)


def ensure_chat_template(tokenizer: Any) -> str:
    """Give ``tokenizer`` a chat template when it has none; say which one it uses."""
    if getattr(tokenizer, "chat_template", None):
        return "tokenizer"
    if has_single_token(tokenizer, CHATML_END) or tokenizer.eos_token is None:
        tokenizer.chat_template = CHATML_TEMPLATE
        return "chatml (the tokenizer has none)"
    tokenizer.chat_template = CHATML_EOS_TEMPLATE
    return f"chatml + {tokenizer.eos_token} (the tokenizer has none and its vocabulary lacks ChatML's tokens)"


def template_name(tokenizer: Any) -> str:
    """Which chat template ``tokenizer`` renders with (after :func:`ensure_chat_template`)."""
    if tokenizer.chat_template == CHATML_EOS_TEMPLATE:
        return f"chatml + {tokenizer.eos_token} (ours: no template and no ChatML tokens in the vocabulary)"
    if tokenizer.chat_template == CHATML_TEMPLATE:
        return "chatml"
    return "the tokenizer's own"


def strip_text_end_marker(tokenizer: Any, text: str) -> str:
    """A generated answer without a trailing ChatML end marker that this vocabulary holds only as plain text."""
    if tokenizer.chat_template == CHATML_EOS_TEMPLATE:
        cut = text.find(CHATML_END)
        if cut >= 0:
            return text[:cut].rstrip()
    return text


__all__ = [
    "CHATML_END",
    "CHATML_EOS_TEMPLATE",
    "CHATML_TEMPLATE",
    "ensure_chat_template",
    "has_single_token",
    "strip_text_end_marker",
    "template_name",
]
