"""Training data for local LoRA runs: read any dataset format, render with the chat template, mask, batch.

- Reading goes through :func:`tools.data.formats.read_conversations`, so every format the data pipeline
  knows works; lines it cannot use (``conversation is None``) are skipped and counted.
- Rendering uses the tokenizer's own chat template (ChatML when it has none). The loss sees only
  assistant tokens: each assistant turn's span is the text the template adds between the prompt
  rendered with ``add_generation_prompt=True`` and the prompt plus that turn, i.e. the answer and the
  end-of-turn token. OpenAI ``weight: 0`` assistant turns are rendered but not trained on.
- Batching: ``packed`` flattens each micro-batch into one padding-free row whose position ids restart
  at every example; transformers (>= 4.53) then builds a block-diagonal causal mask from the position ids,
  so neither attention nor positions leak between examples (only with ``use_cache=False``: with a cache
  transformers skips the packed-sequence detection). ``length_grouped`` sorts examples of a
  similar length into the same batch (HF LengthGroupedSampler style) and pads; ``padded`` is random
  batches padded to the longest (the plain Trainer baseline). Orders depend only on (seed, epoch), so a
  resumed run sees the same batches.

Heavy imports (torch) stay inside the functions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.data.formats import Conversation, read_conversations
from tools.local_models.tiny import CHATML_TEMPLATE

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    line: int

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels[1:] if x != IGNORE)


@dataclass
class DataStats:
    path: str
    format: str | None
    records: int = 0
    used: int = 0
    bad_lines: list[int] = field(default_factory=list)
    no_assistant: list[int] = field(default_factory=list)
    truncated: int = 0
    weight_zero_turns: int = 0
    template: str = "tokenizer"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "records": self.records,
            "used": self.used,
            "skipped_bad_lines": len(self.bad_lines),
            "first_bad_lines": self.bad_lines[:10],
            "skipped_no_assistant": len(self.no_assistant),
            "first_no_assistant": self.no_assistant[:10],
            "truncated": self.truncated,
            "weight_zero_turns": self.weight_zero_turns,
            "template": self.template,
            "notes": self.notes[:10],
        }


def ensure_chat_template(tokenizer: Any) -> str:
    """Give ``tokenizer`` ChatML when it has no chat template; say which one is used."""
    if getattr(tokenizer, "chat_template", None):
        return "tokenizer"
    tokenizer.chat_template = CHATML_TEMPLATE
    return "chatml (the tokenizer has none)"


def chat_messages(conv: Conversation) -> list[dict[str, Any]]:
    """The conversation as chat-template messages (tool calls as JSON text after the content)."""
    import json

    out: list[dict[str, Any]] = []
    for m in conv.messages:
        content = m.content or ""
        if m.tool_calls:
            calls = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
            content = (content + "\n" if content else "") + json.dumps(calls, ensure_ascii=False)
        out.append({"role": m.role, "content": content})
    return out


def _spans(
    tokenizer: Any, conv: Conversation, msgs: list[dict[str, Any]], full: str
) -> tuple[list[tuple[int, int]], int]:
    """Character spans of trained assistant turns in ``full`` and how many weight-0 turns were skipped."""
    spans: list[tuple[int, int]] = []
    skipped = 0
    for i, (msg, src) in enumerate(zip(msgs, conv.messages, strict=False)):
        if msg["role"] != "assistant":
            continue
        if src.weight == 0:
            skipped += 1
            continue
        prompt = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True) if i else ""
        upto = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(prompt):
            raise ValueError("template is not prefix-stable")
        spans.append((len(prompt), len(upto)))
    return spans, skipped


def render(
    tokenizer: Any, conv: Conversation, max_seq_len: int, line: int = 0
) -> tuple[Example | None, dict[str, int]]:
    """One conversation -> token ids and labels (assistant tokens only); None when nothing is trainable."""
    info = {"truncated": 0, "weight_zero": 0, "fallback": 0}
    if conv.text is not None and not conv.messages:
        ids = tokenizer(conv.text, add_special_tokens=True)["input_ids"]
        if tokenizer.eos_token_id is not None:
            ids = ids + [tokenizer.eos_token_id]
        labels = list(ids)
    else:
        msgs = chat_messages(conv)
        full = tokenizer.apply_chat_template(msgs, tokenize=False)
        try:
            spans, info["weight_zero"] = _spans(tokenizer, conv, msgs, full)
        except ValueError:
            # The template rewrites earlier turns (e.g. drops reasoning): train the last assistant turn only.
            info["fallback"] = 1
            last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            spans = []
            if last is not None and conv.messages[last].weight != 0:
                full = tokenizer.apply_chat_template(msgs[: last + 1], tokenize=False)
                prompt = tokenizer.apply_chat_template(msgs[:last], tokenize=False, add_generation_prompt=True)
                if full.startswith(prompt):
                    spans = [(len(prompt), len(full))]
        enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [IGNORE] * len(ids)
        for t, (a, b) in enumerate(enc["offset_mapping"]):
            if b > a and any(s <= a and b <= e for s, e in spans):
                labels[t] = ids[t]
    if len(ids) > max_seq_len:
        ids, labels = ids[:max_seq_len], labels[:max_seq_len]
        info["truncated"] = 1
    labels[0] = IGNORE  # nothing predicts the first token
    ex = Example(ids, labels, line)
    return (ex if ex.trained > 0 else None), info


def load_examples(
    path: Path, tokenizer: Any, max_seq_len: int, *, label: str | None = None
) -> tuple[list[Example], DataStats]:
    """Every usable example of a dataset file, rendered and masked, with counts of what was skipped."""
    template = ensure_chat_template(tokenizer)
    examples: list[Example] = []
    stats = DataStats(path=label or path.name, format=None, template=template)
    fallback = 0
    for rec in read_conversations(path):
        stats.records += 1
        stats.format = stats.format or rec.format
        if rec.conversation is None:
            stats.bad_lines.append(rec.line)
            continue
        ex, info = render(tokenizer, rec.conversation, max_seq_len, rec.line)
        stats.truncated += info["truncated"]
        stats.weight_zero_turns += info["weight_zero"]
        fallback += info["fallback"]
        if ex is None:
            stats.no_assistant.append(rec.line)
            continue
        examples.append(ex)
    stats.used = len(examples)
    if fallback:
        stats.notes.append(
            f"{fallback} conversations: the chat template rewrites earlier turns, so only the "
            "last assistant turn was trained"
        )
    if stats.bad_lines:
        stats.notes.append(
            f"{len(stats.bad_lines)} lines were not usable examples and were skipped "
            f"(first: line {stats.bad_lines[0]}); run validate_jsonl for details"
        )
    if stats.no_assistant:
        stats.notes.append(
            f"{len(stats.no_assistant)} examples had no trainable assistant tokens and were skipped "
            f"(first: line {stats.no_assistant[0]})"
        )
    if stats.truncated:
        stats.notes.append(f"{stats.truncated} examples were longer than max_seq_len={max_seq_len} and were truncated")
    if not examples:
        raise ToolError(
            "no_training_examples",
            f"{stats.path}: no usable training examples "
            f"({stats.records} lines, {len(stats.bad_lines)} unusable, {len(stats.no_assistant)} without an assistant "
            f"answer)",
            "run validate_jsonl on the file; each example needs an assistant turn to learn",
        )
    return examples, stats


def split_eval(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, eval): a seeded random ``fraction`` held out (at least one example when fraction > 0)."""
    if fraction <= 0 or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(examples) * fraction))
    held = set(order[:n_eval])
    return [e for i, e in enumerate(examples) if i not in held], [examples[i] for i in sorted(held)]


# ----------------------------------------------------------------------------- batching


def batch_plan(lengths: Sequence[int], batch_size: int, mode: str, seed: int, epoch: int) -> list[list[int]]:
    """Index lists, one per micro-batch, for one epoch; depends only on (seed, epoch)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if mode == "length_grouped":
        mega = batch_size * 50
        groups = [sorted(order[i : i + mega], key=lambda k: -lengths[k]) for i in range(0, len(order), mega)]
        batches = [g[i : i + batch_size] for g in groups for i in range(0, len(g), batch_size)]
        rng.shuffle(batches)
        return batches
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(examples: Sequence[Example], mode: str, pad_id: int) -> dict[str, Any]:
    """Tensors for one micro-batch. ``packed``: one row, position ids restart per example, no attention mask."""
    import torch

    if mode == "packed":
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for ex in examples:
            ids += ex.input_ids
            labels += [IGNORE] + ex.labels[1:]  # never predict an example's first token from the previous one
            pos += list(range(len(ex.input_ids)))
        return {
            "input_ids": torch.tensor([ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([pos]),
            "attention_mask": None,
            "tokens": len(ids),
            "padded_tokens": len(ids),
        }
    width = max(len(ex.input_ids) for ex in examples)
    ids_t = torch.full((len(examples), width), pad_id, dtype=torch.long)
    lab_t = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for r, ex in enumerate(examples):
        n = len(ex.input_ids)
        ids_t[r, :n] = torch.tensor(ex.input_ids)
        lab_t[r, :n] = torch.tensor(ex.labels)
        mask[r, :n] = 1
    return {
        "input_ids": ids_t,
        "labels": lab_t,
        "position_ids": None,
        "attention_mask": mask,
        "tokens": int(mask.sum()),
        "padded_tokens": len(examples) * width,
    }


def count_trained(batch: dict[str, Any]) -> int:
    return int((batch["labels"][:, 1:] != IGNORE).sum())


__all__ = [
    "IGNORE",
    "DataStats",
    "Example",
    "batch_plan",
    "chat_messages",
    "collate",
    "count_trained",
    "ensure_chat_template",
    "load_examples",
    "render",
    "split_eval",
]
