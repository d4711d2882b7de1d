"""Asking the old model: one chat completion per prompt (sync), or one Batch API batch, resumable either way.

Answers are kept as they arrive in ``golden.answers.jsonl`` (one line per prompt: the assistant message, its finish
reason and usage, or the error), so a call cut short by a rate limit or a lost connection never pays twice for an
answer it has: the next call asks only for the prompts still missing. A batch is recorded in ``golden.state.json``
before anything else happens, and its metadata carries the request's key, so a crash between creating the batch and
recording it finds the batch again instead of creating a second one. Batch output lines come back in any order and
are matched by ``custom_id``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import write_text_atomic
from tools.migrate import openai_wire as wire
from tools.migrate.facts import setting
from tools.migrate.golden_prompts import Prompt

ANSWERS = "golden.answers.jsonl"
STATE = "golden.state.json"
BATCH_INPUT = "golden.batch-input.jsonl"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
PERMANENT = {"provider_error"}  # a 4xx on one prompt: asking again gives the same answer
NOT_RUN = {"batch_expired", "batch_cancelled"}  # lines a batch never ran: still missing, asked again


def request_key(model: str, mode: str, max_tokens: int, temperature: float, heldout: Path) -> str:
    """What makes two recordings the same: the model, the prompts (the bytes of heldout.jsonl) and the settings."""
    digest = hashlib.sha256(heldout.read_bytes()).hexdigest()
    text = json.dumps([model, mode, max_tokens, temperature, digest])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError:
        raise ToolError(
            "golden_state_corrupt",
            f"{path.name} in {folder.name} is not JSON",
            "move the migration folder's golden.* files away and record again",
        ) from None
    return data if isinstance(data, dict) else {}


def write_state(folder: Path, state: dict[str, Any]) -> None:
    write_text_atomic(folder / STATE, json.dumps(state, indent=2) + "\n")


def read_answers(folder: Path) -> dict[str, dict[str, Any]]:
    """custom_id -> the latest record for it (an answer, or a permanent error)."""
    path = folder / ANSWERS
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for raw in path.read_text("utf-8").splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue  # a line cut by a crash: that prompt is asked again
        if isinstance(rec, dict) and isinstance(rec.get("custom_id"), str):
            out[rec["custom_id"]] = rec
    return out


def _append(folder: Path, records: list[dict[str, Any]]) -> None:
    with (folder / ANSWERS).open("a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _message(raw: dict[str, Any]) -> dict[str, Any]:
    """The parts of an assistant message a training or eval line holds: content (a refusal's text when there is
    no content) and tool calls."""
    content = raw.get("content")
    if content is None and raw.get("refusal"):
        content = str(raw["refusal"])
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    calls = raw.get("tool_calls") or []
    if calls:
        msg["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {
                    "name": (c.get("function") or {}).get("name"),
                    "arguments": (c.get("function") or {}).get("arguments"),
                },
            }
            for c in calls
            if isinstance(c, dict)
        ]
    return msg


def answer_record(custom_id: str, completion: dict[str, Any]) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    usage = completion.get("usage") or {}
    return {
        "custom_id": custom_id,
        "message": _message(choice.get("message") or {}),
        "finish_reason": choice.get("finish_reason"),
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
    }


def body_for(prompt: Prompt, model: str, max_tokens: int, temperature: float) -> dict[str, Any]:
    return {**prompt.body, "model": model, "max_completion_tokens": max_tokens, "temperature": temperature}


def run_sync(folder: Path, prompts: list[Prompt], model: str, max_tokens: int, temperature: float) -> None:
    """One chat completion per missing prompt, each kept as it arrives. A prompt OpenAI refuses (HTTP 4xx) is
    recorded as failed; a rate limit or a lost connection stops here (call again to go on)."""
    c = wire.client()
    for p in prompts:
        try:
            completion = wire.chat(c, body_for(p, model, max_tokens, temperature))
        except ToolError as exc:
            if exc.code not in PERMANENT:
                raise
            _append(folder, [{"custom_id": p.custom_id, "error": exc.message}])
            continue
        _append(folder, [answer_record(p.custom_id, completion)])


def _collect(c: Any, folder: Path, batch: dict[str, Any]) -> None:
    """A finished batch's output and error files into the answers file (matched by custom_id)."""
    records: list[dict[str, Any]] = []
    for line in wire.jsonl_objects(
        wire.file_content(c, batch["output_file_id"]) if batch.get("output_file_id") else b""
    ):
        response = line.get("response") or {}
        cid = line.get("custom_id")
        if not isinstance(cid, str):
            continue
        if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
            records.append(answer_record(cid, response["body"]))
        else:
            records.append({"custom_id": cid, "error": _line_error(line)})
    for line in wire.jsonl_objects(wire.file_content(c, batch["error_file_id"]) if batch.get("error_file_id") else b""):
        if isinstance(line.get("custom_id"), str):
            records.append({"custom_id": line["custom_id"], "error": _line_error(line)})
    _append(folder, [r for r in records if str(r.get("error", "")).split(":")[0] not in NOT_RUN])


def _line_error(line: dict[str, Any]) -> str:
    err = line.get("error") or ((line.get("response") or {}).get("body") or {}).get("error") or {}
    if isinstance(err, dict):
        return f"{err.get('code') or 'error'}: {err.get('message') or ''}".strip()
    return str(err)[:300]


def batch_errors(batch: dict[str, Any]) -> list[str]:
    """Why a batch failed as a whole (input validation), in OpenAI's words."""
    data = (batch.get("errors") or {}).get("data") or []
    return [f"{e.get('code') or 'error'}: {e.get('message') or ''}".strip() for e in data if isinstance(e, dict)]


def _submit(
    c: Any, folder: Path, state: dict[str, Any], prompts: list[Prompt], model: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    lines = [
        json.dumps(
            {
                "custom_id": p.custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": body_for(p, model, max_tokens, temperature),
            },
            ensure_ascii=False,
        )
        for p in prompts
    ]
    content = ("\n".join(lines) + "\n").encode("utf-8")
    limit_n, limit_mb = int(setting("batch_max_requests")), float(setting("batch_max_file_mb"))
    if len(lines) > limit_n or len(content) > limit_mb * 2**20:
        raise ToolError(
            "batch_too_large",
            f"{len(lines):,} requests ({len(content) / 2**20:.1f} MB) are over one batch's limit of {limit_n:,} "
            f"requests or {limit_mb:g} MB",
            "record fewer prompts (sample), or use mode=sync",
        )
    write_text_atomic(folder / BATCH_INPUT, content.decode("utf-8"))
    attempt = len(state.get("batches") or [])
    ids = ",".join(p.custom_id for p in prompts)
    batch_key = hashlib.sha256(f"{state['key']}:{attempt}:{ids}".encode()).hexdigest()[:24]
    found = wire.find_batch(c, batch_key)
    if found is None:
        file_id = wire.upload_batch_file(c, BATCH_INPUT, content)
        found = wire.create_batch(c, file_id, str(setting("batch_completion_window")), batch_key)
    return found


def run_batch(
    folder: Path, state: dict[str, Any], prompts: list[Prompt], model: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    """Poll the batch in flight (collecting it once it ends), or submit one for the prompts still missing.
    Returns the batch as OpenAI last described it."""
    c = wire.client()
    active = state.get("active_batch")
    if active:
        batch = wire.get_batch(c, active)
        if batch.get("status") in TERMINAL:
            _collect(c, folder, batch)
            state["active_batch"] = None
            state.setdefault("batches", []).append(
                {"id": batch.get("id"), "status": batch.get("status"), "errors": batch_errors(batch)[:5]}
            )
            write_state(folder, state)
        return batch
    batch = _submit(c, folder, state, prompts, model, max_tokens, temperature)
    state["active_batch"] = batch.get("id")
    write_state(folder, state)
    return batch


__all__ = [
    "ANSWERS",
    "BATCH_INPUT",
    "STATE",
    "TERMINAL",
    "answer_record",
    "batch_errors",
    "body_for",
    "read_answers",
    "read_state",
    "request_key",
    "run_batch",
    "run_sync",
    "write_state",
]
