"""One conversation -> token ids and labels: our chat-template rendering and assistant-only masks.

The loss sees only assistant tokens. Each assistant turn's span is the text the chat template adds between
the conversation before it rendered with ``add_generation_prompt=True`` and the conversation up to and
including it: the answer and its end-of-turn token, without the whitespace the template writes after that
token. Turns with ``weight: 0`` (OpenAI's format) are rendered but not trained. Labels are unshifted (the
Hugging Face convention: ``labels[i]`` is the target of position ``i``; the model shifts), so TRL's trainers
take them as they are. We do this ourselves rather than with TRL's ``assistant_only_loss``, which needs
``{% generation %}`` markers that most templates (Qwen2.5, Llama 3.1) lack.

Messages are plain dicts (``role``, ``content``, optional ``weight``) so that this module needs nothing but
the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE = -100


@dataclass
class Rendered:
    """A rendered example: ids, labels (``IGNORE`` where not trained) and what happened on the way."""

    input_ids: list[int]
    labels: list[int]
    line: int = 0
    truncated: bool = False
    length_before_truncation: int = 0
    weight_zero_turns: int = 0
    fallback: bool = False

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels[1:] if x != IGNORE)


class TemplateNotPrefixStable(ValueError):
    """The chat template rewrites earlier turns when a later one is added (e.g. it drops reasoning)."""


def encode(tokenizer: Any, text: str, *, offsets: bool = False) -> Any:
    """Tokenize rendered chat text: the tokenizer's special tokens (a BOS) are added unless the template already
    wrote the BOS itself, so training and generation see the same ids."""
    bos = getattr(tokenizer, "bos_token", None)
    add = not (bos and text.startswith(bos))
    return tokenizer(text, add_special_tokens=add, return_offsets_mapping=offsets)


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]


def assistant_spans(tokenizer: Any, messages: list[dict[str, Any]], full: str) -> tuple[list[tuple[int, int]], int]:
    """Character spans of the trained assistant turns in ``full`` and the number of weight-0 turns skipped."""
    msgs = _plain(messages)
    spans: list[tuple[int, int]] = []
    skipped = 0
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        if msg.get("weight") == 0:
            skipped += 1
            continue
        prompt = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True) if i else ""
        upto = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(prompt):
            raise TemplateNotPrefixStable(i)
        spans.append((len(prompt), len(upto.rstrip())))
    return spans, skipped


def _last_turn_only(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    msgs = _plain(messages)
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None or messages[last].get("weight") == 0:
        return tokenizer.apply_chat_template(msgs, tokenize=False), []
    full = tokenizer.apply_chat_template(msgs[: last + 1], tokenize=False)
    prompt = tokenizer.apply_chat_template(msgs[:last], tokenize=False, add_generation_prompt=True)
    return full, ([(len(prompt), len(full.rstrip()))] if full.startswith(prompt) else [])


def render_messages(tokenizer: Any, messages: list[dict[str, Any]], max_seq_len: int, line: int = 0) -> Rendered:
    """A chat conversation as ids and labels, cut to ``max_seq_len`` tokens (the start is kept)."""
    full = tokenizer.apply_chat_template(_plain(messages), tokenize=False)
    fallback = False
    try:
        spans, weight_zero = assistant_spans(tokenizer, messages, full)
    except TemplateNotPrefixStable:
        fallback, weight_zero = True, 0
        full, spans = _last_turn_only(tokenizer, messages)
    enc = encode(tokenizer, full, offsets=True)
    ids = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    for t, (a, b) in enumerate(enc["offset_mapping"]):
        if b > a and any(s <= a and b <= e for s, e in spans):
            labels[t] = ids[t]
    return _finish(ids, labels, max_seq_len, line, weight_zero_turns=weight_zero, fallback=fallback)


def render_text(tokenizer: Any, text: str, max_seq_len: int, line: int = 0) -> Rendered:
    """A plain-text (language-modelling) example: every token trained, the EOS appended."""
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return _finish(ids, list(ids), max_seq_len, line)


def _finish(ids: list[int], labels: list[int], max_seq_len: int, line: int, **info: Any) -> Rendered:
    n = len(ids)
    if n > max_seq_len:
        ids, labels = ids[:max_seq_len], labels[:max_seq_len]
    if labels:
        labels[0] = IGNORE  # nothing predicts the first token
    return Rendered(ids, labels, line, truncated=n > max_seq_len, length_before_truncation=n, **info)


__all__ = [
    "IGNORE",
    "Rendered",
    "TemplateNotPrefixStable",
    "assistant_spans",
    "encode",
    "render_messages",
    "render_text",
]
