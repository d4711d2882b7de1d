"""The chat-template check of ``validate --model`` for an open-weight model that is on this machine.

It is the training engine's own preflight (tools/local_models/preflight.py): each example rendered with the model's
chat template and tokenizer, the assistant-only mask the run would train with, the EOS the model stops on, and what
``max_seq_len`` would cut. Validate reports what the preflight found, in notes, instead of refusing: a refusal here
is what ``finetune train`` would refuse at launch. A model that is not local (no folder, not in the Hugging Face
cache) is said to be unchecked, with the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from tools.core.errors import ToolError
from tools.data.formats import read_conversations
from tools.knowledge.lora_defaults import load_defaults
from tools.local_models.preflight import Example, PreflightReport, preflight


def _examples(path: Path, limit: int) -> Iterator[Example]:
    """The file's first ``limit`` readable examples, as the training engine renders them."""
    convs = ((rec.line, rec.conversation) for rec in read_conversations(path) if rec.conversation is not None)
    for line, conv in islice(convs, limit):
        if conv.is_plain_text:
            yield Example(line, text=conv.text)
        else:
            yield Example(line, messages=conv.template_messages())


def summary(report: PreflightReport, shown: str, max_seq_len: int) -> list[str]:
    """The preflight's findings as validate notes."""
    share = report.trained_tokens / report.tokens if report.tokens else 0.0
    notes = [
        f"{shown}: rendered {report.examples:,} examples with the chat template ({report.template}) at "
        f"max_seq_len={max_seq_len}: {report.trained_tokens:,} of {report.tokens:,} tokens trained ({share:.0%}); "
        f"{report.turns_ending_with_stop:,} of {report.turns:,} trained turns end with a token the model stops on "
        f"({', '.join(repr(s) for s in report.stop_tokens) or 'none set'})"
    ]
    notes += [f"{shown}: {w}" for w in report.warnings]
    return notes


def template_preflight(model: str, root: Path, paths: list[Path], labels: list[str]) -> list[str]:
    """Notes from the training engine's preflight over each file, with ``model``'s tokenizer and template."""
    from tools.local_models.loader import load_tokenizer, resolve_model, stop_token_ids
    from tools.local_models.templates import template_name

    try:
        ref = resolve_model(model, root, weights=False)
    except ToolError as exc:
        return [f"chat template not rendered: {exc.message}; {exc.hint}"]
    d = load_defaults()
    max_seq_len = int(d.number("max_seq_len"))
    limit = int(d.number("preflight_max_examples"))
    tokenizer = load_tokenizer(ref)
    stops = stop_token_ids(ref, tokenizer)
    notes: list[str] = []
    for path, shown in zip(paths, labels, strict=True):
        try:
            report = preflight(
                tokenizer,
                _examples(path, limit),
                max_seq_len=max_seq_len,
                stop_ids=stops,
                max_truncated_share=d.number("preflight_max_truncated_share"),
                template=template_name(tokenizer),
                samples=0,
                label=shown,
            )
        except ToolError as exc:
            notes.append(f"training would refuse this file ({exc.code}): {exc.message}; {exc.hint}")
            continue
        notes += summary(report, shown, max_seq_len)
    return notes


__all__ = ["summary", "template_preflight"]
