"""The prompts golden outputs are recorded on: a held-out set, or a seeded sample of the training file.

Every line is read in any format validate_jsonl reads and rendered as an OpenAI chat request (the messages before
the last assistant turn, the tool definitions, without per-message ``weight``); that last assistant turn, when
there is one, is kept as the reference answer. The selected prompts are written to ``heldout.jsonl`` in the
migration folder (prompt and reference, one line each), which is what a dry run shows the person: exactly what
would be sent. Sampling from the training file also writes ``train.jsonl``: the training file's own lines without
the sampled ones, so the replacement is not trained on the prompts it is compared on. Tokens are counted on
``heldout.jsonl`` with the chat billing overhead (``plan_math.count_dataset``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, write_bytes_atomic, write_text_atomic
from tools.data.formats import read_conversations, render
from tools.migrate.openai_inventory import recorded_training_file
from tools.plan import plan_math as pm

HELDOUT = "heldout.jsonl"
TRAIN_REST = "train.jsonl"
PENDING = "pending"
Source = Literal["eval_data", "training_sample"]


@dataclass
class Prompt:
    custom_id: str
    line: int  # the line in the source file
    body: dict[str, Any]  # messages (and tools) as the chat completions API takes them
    reference: dict[str, Any] | None  # the source's own answer (an OpenAI assistant message), if any
    prompt_tokens: int = 0
    reference_tokens: int = 0


@dataclass
class PromptSet:
    source: Source
    path: Path
    prompts: list[Prompt]
    skipped: list[int] = field(default_factory=list)
    counter: str = ""
    approximate: bool = True
    train_rest: Path | None = None  # the training file without the sampled lines
    heldout: Path | None = None

    @property
    def has_references(self) -> bool:
        return bool(self.prompts) and all(p.reference is not None for p in self.prompts)

    def commit(self, folder: Path) -> None:
        """Move heldout.jsonl (and train.jsonl) from the pending folder into the migration folder."""
        for attr, name in (("heldout", HELDOUT), ("train_rest", TRAIN_REST)):
            current = getattr(self, attr)
            if current is not None and current.parent != folder:
                os.replace(current, folder / name)
                setattr(self, attr, folder / name)
        with contextlib.suppress(OSError):
            (folder / PENDING).rmdir()

    def discard(self) -> None:
        for path in (self.heldout, self.train_rest):
            if path is not None and path.parent.name == PENDING:
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()


def _strip_weight(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "weight"}


def _split(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(request body, reference answer) of one rendered OpenAI chat line; None without a user turn."""
    messages = [_strip_weight(m) for m in obj.get("messages") or []]
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    reference = None
    if last is not None and last == len(messages) - 1:
        reference, messages = messages[last], messages[:last]
    if not any(m.get("role") == "user" for m in messages):
        return None
    body: dict[str, Any] = {"messages": messages}
    for key in ("tools", "parallel_tool_calls"):
        if obj.get(key) is not None:
            body[key] = obj[key]
    return body, reference


def _read(path: Path) -> tuple[list[tuple[int, dict[str, Any], dict[str, Any] | None]], list[int]]:
    items: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = []
    skipped: list[int] = []
    for rec in read_conversations(path):
        if rec.conversation is None:
            skipped.append(rec.line)
            continue
        rendered, _ = render(rec.conversation, "openai_chat")
        parts = _split(rendered)
        if parts is None:
            skipped.append(rec.line)
            continue
        items.append((rec.line, parts[0], parts[1]))
    return items, skipped


def _source_path(ws: Workspace, model: str, eval_data: str | None, training_data: str | None) -> tuple[Path, Source]:
    if eval_data:
        return ws.input_file(eval_data, what="eval data"), "eval_data"
    if training_data:
        return ws.input_file(training_data, what="training data"), "training_sample"
    recorded = recorded_training_file(ws, model)
    if recorded is not None:
        return recorded, "training_sample"
    raise ToolError(
        "no_prompts",
        f"no prompts to record {model}'s answers on: no eval_data, no training_data, and no training file from "
        "openai_inventory",
        "give eval_data (held-out prompts, best), or training_data, or run openai_inventory first to download the "
        "training file",
    )


def _sample_size(n: int, wanted: int | None) -> int:
    if n < 2:
        raise ToolError(
            "no_prompts",
            f"the training file has {n} usable example(s): nothing to hold out and still train on",
            "give eval_data (held-out prompts) instead",
        )
    if wanted is None:
        share = knowledge.training().hyper("any", "val_fraction").default
        wanted = max(1, round(n * float(share)))
    return min(wanted, n - 1)


def _write_rest(path: Path, target: Path, drop: set[int]) -> None:
    """The file's own lines (bytes unchanged) without the line numbers in ``drop``."""
    lines = path.read_bytes().split(b"\n")
    kept = [raw for number, raw in enumerate(lines, 1) if number not in drop]
    write_bytes_atomic(target, b"\n".join(kept))


def select(
    ws: Workspace,
    folder: Path,
    *,
    model: str,
    base: str,
    eval_data: str | None,
    training_data: str | None,
    sample: int | None,
    seed: int,
) -> PromptSet:
    """Choose the prompts, write heldout.jsonl (and train.jsonl when sampling) to ``folder/pending/``, count their
    tokens. :meth:`PromptSet.commit` moves them into ``folder`` once they may replace what is there."""
    path, source = _source_path(ws, model, eval_data, training_data)
    items, skipped = _read(path)
    if not items:
        raise ToolError(
            "no_prompts",
            f"{ws.relative(path)}: no line has a user turn to send"
            + (f" (unusable lines: {', '.join(map(str, skipped[:10]))})" if skipped else ""),
            "check the file with `finetune validate`",
        )
    pending = folder / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    rest = None
    if source == "training_sample":
        k = _sample_size(len(items), sample)
        chosen = sorted(random.Random(seed).sample(range(len(items)), k))
        picked = [items[i] for i in chosen]
        rest = pending / TRAIN_REST
        _write_rest(path, rest, {line for line, _, _ in picked})
    else:
        picked = items
    prompts = [Prompt(f"g-{i:05d}", line, body, ref) for i, (line, body, ref) in enumerate(picked)]
    heldout = pending / HELDOUT
    lines = []
    for p in prompts:
        obj = dict(p.body)
        obj["messages"] = p.body["messages"] + ([p.reference] if p.reference else [])
        lines.append(json.dumps(obj, ensure_ascii=False))
    write_text_atomic(heldout, "\n".join(lines) + "\n")
    counted = pm.count_dataset(heldout, ws.relative(heldout), base)
    for p, billed, output_tokens in zip(prompts, counted.billed, counted.output, strict=True):
        p.reference_tokens = output_tokens if p.reference else 0
        p.prompt_tokens = billed - p.reference_tokens  # every message sent, with the reply priming
    return PromptSet(
        source=source,
        path=path,
        prompts=prompts,
        skipped=skipped,
        counter=counted.counter,
        approximate=counted.approximate,
        train_rest=rest,
        heldout=heldout,
    )


__all__ = ["HELDOUT", "PENDING", "TRAIN_REST", "Prompt", "PromptSet", "select"]
