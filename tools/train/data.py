"""Training data for a local run: read any dataset format, decide the objective, render the rows TRL trains on.

- Reading goes through :func:`tools.data.formats.read_conversations`, so every format the data pipeline knows
  works; lines it cannot use are skipped and counted.
- Preference data (TRL prompt/chosen/rejected, OpenAI DPO, ...: a conversation with ``rejected``) trains with DPO
  when the objective is ``auto``; everything else with SFT.
- SFT rows are our rendering: ``input_ids`` and ``labels`` with assistant-only masks
  (:mod:`tools.local_models.render`), already cut to ``max_seq_len``; TRL uses them as they are.
- DPO rows are ``prompt_ids`` / ``chosen_ids`` / ``rejected_ids``: the prompt rendered with the generation prompt,
  and each answer's trained span (the answer and its end-of-turn token) from the same rendering.
- GRPO rows are the prompt messages and the reference answer (the last assistant turn) that the rewards score.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.data.formats import Conversation, read_conversations
from tools.local_models.preflight import Example, render_example
from tools.local_models.render import IGNORE, encode, render_messages


@dataclass
class Record:
    """One usable line: the example (for SFT and the preflight), and for preference data the rejected answer."""

    example: Example
    rejected: str | None = None


@dataclass
class DataSet:
    path: str
    format: str | None = None
    lines: int = 0
    records: list[Record] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    no_assistant: list[int] = field(default_factory=list)

    @property
    def preference(self) -> bool:
        return bool(self.records) and all(r.rejected is not None for r in self.records)

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "records": self.lines,
            "used": len(self.records),
            "skipped_bad_lines": len(self.bad_lines),
            "first_bad_lines": self.bad_lines[:10],
            "skipped_no_assistant": len(self.no_assistant),
            "first_no_assistant": self.no_assistant[:10],
            "preference": self.preference,
        }


def _record(conv: Conversation, line: int) -> Record | None:
    if conv.is_plain_text:
        return Record(Example(line, text=conv.text))
    if not any(m.role == "assistant" and (m.content or m.tool_calls) for m in conv.messages):
        return None
    rejected = None
    if conv.rejected:
        answers = [m for m in conv.rejected if m.role == "assistant"]
        rejected = answers[-1].text_with_calls() if answers else None
    return Record(Example(line, messages=conv.template_messages()), rejected)


def read_dataset(path: Path, label: str) -> DataSet:
    """Every usable example of a dataset file (unusable lines counted); ToolError when none is usable."""
    data = DataSet(path=label)
    for rec in read_conversations(path):
        data.lines += 1
        data.format = data.format or rec.format
        if rec.conversation is None:
            data.bad_lines.append(rec.line)
            continue
        record = _record(rec.conversation, rec.line)
        if record is None:
            data.no_assistant.append(rec.line)
        else:
            data.records.append(record)
    if not data.records:
        raise ToolError(
            "no_training_examples",
            f"{label}: no usable training examples ({data.lines} lines, {len(data.bad_lines)} unusable, "
            f"{len(data.no_assistant)} without an assistant answer)",
            "run validate_jsonl on the file; each example needs an assistant turn to learn",
        )
    return data


def split_eval(records: list[Record], fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """(train, eval): a seeded random ``fraction`` held out (at least one example when fraction > 0)."""
    if fraction <= 0 or len(records) < 2:
        return records, []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    held = set(order[: max(1, round(len(records) * fraction))])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


def eval_size(usable: int, fraction: float) -> int:
    """How many examples :func:`split_eval` holds out of ``usable``."""
    return max(1, round(usable * fraction)) if fraction > 0 and usable >= 2 else 0


def resolve_objective(objective: str, data: DataSet) -> str:
    """sft, dpo or grpo for ``data``; ToolError when DPO is asked of data without rejected answers."""
    if objective == "auto":
        return "dpo" if data.preference else "sft"
    if objective == "dpo" and not data.preference:
        missing = next(r.example.line for r in data.records if r.rejected is None)
        raise ToolError(
            "not_preference_data",
            f"{data.path}: objective dpo needs a rejected answer on every line; line {missing} has none",
            "give preference data (prompt/chosen/rejected, or OpenAI's preferred_output/non_preferred_output), or "
            "use objective sft",
        )
    return objective


def sft_rows(tokenizer: Any, records: list[Record], max_seq_len: int) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        rendered = render_example(tokenizer, r.example, max_seq_len)
        if rendered.trained:
            rows.append({"input_ids": rendered.input_ids, "labels": rendered.labels})
    return rows


def _answer_ids(tokenizer: Any, prompt: list[dict[str, Any]], answer: str, max_seq_len: int) -> list[int]:
    r = render_messages(tokenizer, [*prompt, {"role": "assistant", "content": answer}], max_seq_len)
    return [t for t, lab in zip(r.input_ids, r.labels, strict=True) if lab != IGNORE]


def dpo_rows(tokenizer: Any, records: list[Record], max_seq_len: int) -> list[dict[str, Any]]:
    """prompt_ids/chosen_ids/rejected_ids; the prompt keeps its end when prompt and answer exceed max_seq_len."""
    rows = []
    for r in records:
        msgs = r.example.messages or []
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        prompt = [{"role": m["role"], "content": m["content"]} for m in msgs[:last]]
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        prompt_ids = list(encode(tokenizer, text)["input_ids"])
        long = 8 * max_seq_len
        chosen = _answer_ids(tokenizer, prompt, msgs[last]["content"], long)
        rejected = _answer_ids(tokenizer, prompt, r.rejected or "", long)
        room = max(1, max_seq_len - len(prompt_ids))
        if room < max(len(chosen), len(rejected)):
            prompt_ids = prompt_ids[-max(1, max_seq_len // 2) :]
            room = max_seq_len - len(prompt_ids)
        if chosen and rejected:
            rows.append({"prompt_ids": prompt_ids, "chosen_ids": chosen[:room], "rejected_ids": rejected[:room]})
    return rows


def grpo_rows(records: list[Record]) -> list[dict[str, Any]]:
    """The prompt (messages before the last assistant turn) and that turn as the reference the rewards score."""
    rows = []
    for r in records:
        msgs = r.example.messages or []
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        if last == 0:
            continue
        prompt = [{"role": m["role"], "content": m["content"]} for m in msgs[:last]]
        rows.append({"prompt": prompt, "reference": msgs[last]["content"]})
    return rows


__all__ = [
    "DataSet",
    "Record",
    "dpo_rows",
    "eval_size",
    "grpo_rows",
    "read_dataset",
    "resolve_objective",
    "sft_rows",
    "split_eval",
]
