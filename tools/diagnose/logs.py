"""Readers for training logs: every common format becomes one list of :class:`Row`.

Formats are detected from the content (and the folder layout), never trusted from the file name
alone. A row keeps its file line number so that findings and errors can point at it. Metric names
are normalised to ``loss``, ``eval_loss``, ``learning_rate``, ``grad_norm`` and ``epoch``; any other
numeric metric keeps its own name. The text and CSV readers live in :mod:`tools.diagnose.text_logs`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.diagnose import mlflow_logs, tb_events, text_logs
from tools.diagnose.rows import EXPECTED, BadValues, Parsed, Row, message_row, normalise, to_number

_LOG_STAMP = re.compile(r"\[\d{4}-\d\d-\d\d[ T]\d")
"""A console line that starts with a bracketed date ([2023-07-24 13:21:32,187] ...), not a JSON array."""


def _json_error(path: Path, exc: json.JSONDecodeError, what: str = "JSON") -> ToolError:
    return ToolError(
        "log_invalid_json",
        f"{path.name} line {exc.lineno} column {exc.colno}: not valid {what} ({exc.msg})",
        "the file looks truncated or edited; copy it again from the run (a live trainer_state.json is "
        "rewritten at every save), or point at the checkpoint folder",
    )


def read_hf_state(path: Path, data: dict[str, Any], text: str, bad: BadValues) -> Parsed:
    history = data.get("log_history")
    if not isinstance(history, list):
        raise ToolError(
            "log_format_unknown",
            f"{path.name}: 'log_history' is not a list",
            "give the trainer_state.json that HF Trainer writes",
        )
    # log_history entries start on their own lines in the indented file HF writes; map them to lines.
    starts = [m.start() for m in re.finditer(r"^\s{4}\{", text, re.M)]
    line_of = [text.count("\n", 0, s) + 1 for s in starts] if len(starts) == len(history) else []
    rows = []
    for i, entry in enumerate(history):
        if isinstance(entry, dict):
            row = normalise(entry, line_of[i] if line_of else i + 1, path, bad)
            if row is not None:
                rows.append(row)
    parsed = Parsed(path, "hf_trainer_state", rows)
    parsed.meta["trainer_state"] = {k: v for k, v in data.items() if k != "log_history"}
    planned = data.get("max_steps") or data.get("global_step")
    parsed.total_steps = float(planned) if isinstance(planned, (int, float)) and planned > 0 else None
    logging_steps, max_steps = data.get("logging_steps"), data.get("max_steps")
    if (
        not any("loss" in r.values for r in rows)
        and isinstance(logging_steps, (int, float))
        and isinstance(max_steps, (int, float))
        and logging_steps > max_steps > 0
    ):
        parsed.notes.append(
            f"logging_steps ({logging_steps:g}) is larger than max_steps ({max_steps:g}): "
            "only the end-of-training summary was logged"
        )
    return parsed


def read_openai_events(path: Path, events: list[Any], bad: BadValues) -> Parsed:
    """OpenAI fine_tuning.job.event objects (newest first from the API); metrics in event['data']."""
    rows = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            continue
        data = ev.get("data") if isinstance(ev.get("data"), dict) else {}
        if data and ("train_loss" in data or "valid_loss" in data):
            row = normalise(_openai_keys(data), i + 1, path, bad)
        else:
            row = message_row(str(ev.get("message", "")), i + 1, path, bad)
        if row is not None:
            rows.append(row)
    rows.sort(key=lambda r: (r.step is None, r.step or 0.0))
    return Parsed(path, "openai_job_events", rows, notes=["events sorted by step (the API lists newest first)"])


def _openai_keys(data: dict[str, Any]) -> dict[str, Any]:
    """OpenAI metrics: full_valid_loss (the whole validation set, at checkpoints) is the eval loss when
    present; the per-batch valid_loss is kept under its own name."""
    out = {k: v for k, v in data.items() if k != "total_steps" and not isinstance(v, (dict, list))}
    if "full_valid_loss" in out:
        out["valid_loss_batch"] = out.pop("valid_loss", None)
        out["eval_loss"] = out.pop("full_valid_loss")
    return out


def _unreadable_json(path: Path, exc: Exception) -> ToolError:
    """JSON the parser refuses for its size rather than its syntax (an integer of thousands of digits, nesting
    deeper than the interpreter's recursion limit)."""
    why = "nested too deeply" if isinstance(exc, RecursionError) else "holds a number too long to read"
    return ToolError(
        "log_invalid_json",
        f"{path.name}: the JSON {why}; no trainer writes that",
        "check that this is the training log (trainer_state.json, trainer_log.jsonl, metrics.jsonl)",
    )


def read_json_file(path: Path, text: str, bad: BadValues) -> Parsed | None:
    """Whole-file JSON formats; None when the file is not one JSON document."""
    try:
        data = json.loads(text)
    except (RecursionError, ValueError) as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise _unreadable_json(path, exc) from None
        first = text.lstrip()[:1]
        if first == "[" or (first == "{" and "\n" not in text.strip()) or _looks_like_one_document(text):
            raise _json_error(path, exc) from None
        return None
    if isinstance(data, dict) and "log_history" in data:
        return read_hf_state(path, data, text, bad)
    events = data.get("data") if isinstance(data, dict) else data
    if isinstance(events, list) and events and all(isinstance(e, dict) for e in events):
        kinds = {str(e.get("object", "")) for e in events}
        if any("fine_tuning.job.event" in k for k in kinds):
            return read_openai_events(path, events, bad)
        if any("fine-tune-event" in k for k in kinds):
            parsed = read_openai_events(path, events, bad)
            parsed.format = "together_job_events"
            return parsed
        rows = [r for i, e in enumerate(events) if (r := normalise(e, i + 1, path, bad)) is not None]
        if any("loss" in r.values or "eval_loss" in r.values for r in rows) or bad.count:
            return Parsed(path, "json_records", rows)
    elif isinstance(data, dict):
        row = normalise(data, 1, path, bad)
        if row is not None and ("loss" in row.values or "eval_loss" in row.values):
            return Parsed(path, "json_records", [row])
    raise ToolError("log_format_unknown", f"{path.name}: JSON, but not a training log", f"expected {EXPECTED}")


def _looks_like_one_document(text: str) -> bool:
    """Pretty-printed JSON (a lone '{' on the first line) rather than JSON Lines."""
    first_line = text.lstrip().split("\n", 1)[0].strip()
    return first_line in {"{", "["}


def read_jsonl(path: Path, text: str, bad: BadValues) -> Parsed:
    rows: list[Row] = []
    fmt = "jsonl"
    broken: list[int] = []
    total: float | None = None
    lines = text.splitlines()
    for n, raw_line in enumerate(lines, 1):
        s = raw_line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except (RecursionError, ValueError):
            broken.append(n)
            continue
        if not isinstance(obj, dict):
            continue
        if "current_steps" in obj:
            fmt = "llamafactory_trainer_log"
            total = to_number(obj.get("total_steps")) or total
        elif fmt == "jsonl" and path.name == "metrics.jsonl":
            fmt = "run_metrics_jsonl"
        if "object" in obj and "fine_tuning.job.event" in str(obj.get("object")):
            fmt = "openai_job_events"
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            row = normalise(data, n, path, bad) if data else message_row(str(obj.get("message", "")), n, path, bad)
        else:
            row = normalise({k: v for k, v in obj.items() if k != "total_steps"}, n, path, bad)
        if row is not None:
            rows.append(row)
    notes = []
    if broken:
        last = len([ln for ln in lines if ln.strip()])
        if broken == [n for n in broken if n >= last] and rows:
            notes.append(f"line {broken[0]} is cut off (a live log is still being written); it was skipped")
        elif not rows:
            raise ToolError(
                "log_invalid_json",
                f"{path.name} line {broken[0]}: not valid JSON",
                "each line of a .jsonl log must be one JSON object",
            )
        else:
            notes.append(f"{len(broken)} lines are not valid JSON and were skipped (first: line {broken[0]})")
    if fmt == "openai_job_events":
        rows.sort(key=lambda r: (r.step is None, r.step or 0.0))
    return Parsed(path, fmt, rows, notes=notes, total_steps=total)


def pick_in_folder(folder: Path) -> tuple[Path, str | None]:
    """The log to read inside a run, output or checkpoint folder, and a note saying why."""
    metrics = folder / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size > 0:
        return metrics, "run folder: read metrics.jsonl (our run log, live while training)"
    states = []
    for candidate in [folder / "trainer_state.json", *folder.glob("checkpoint-*/trainer_state.json")]:
        if candidate.is_file():
            try:
                step = int(json.loads(candidate.read_text("utf-8")).get("global_step") or 0)
            except (ValueError, OSError, AttributeError, TypeError, RecursionError):
                step = -1
            states.append((step, candidate.parent == folder, candidate))
    if states:
        step, _, best = max(states, key=lambda s: (s[0], s[1]))
        where = best.relative_to(folder).as_posix()
        return best, f"folder: read the newest trainer state, {where} (global_step {step}, of {len(states)} found)"
    for name in ("trainer_log.jsonl", "log_history.json", "results.csv", "result.csv"):
        if (folder / name).is_file():
            return folder / name, f"folder: read {name}"
    events = sorted(folder.rglob("events.out.tfevents*"), key=lambda p: p.stat().st_mtime)
    if events:
        where = events[-1].relative_to(folder).as_posix()
        return events[-1], f"folder: read the newest TensorBoard events file, {where}"
    raise ToolError("log_not_found", f"folder {folder.name!r} holds no training log", f"expected {EXPECTED}")


def read_log(path: Path) -> Parsed:
    """Detect the format of ``path`` (a file or folder) and read it into rows."""
    note = None
    mlflow_run = mlflow_logs.run_folder(path)
    if mlflow_run is not None:
        return mlflow_logs.read_run(mlflow_run, BadValues())
    if path.is_dir():
        path, note = pick_in_folder(path)
    if "tfevents" in path.name:
        parsed = tb_events.read_events(path)
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ToolError(
                "log_unreadable", f"{path.name}: cannot be read ({exc.strerror})", "check the file permissions"
            ) from None
        if not raw.strip():
            raise ToolError("log_empty", f"{path.name} is empty", f"nothing was logged yet; expected {EXPECTED}")
        if b"\x00" in raw[:4096]:
            raise ToolError(
                "log_format_unknown", f"{path.name}: a binary file, not a training log", f"expected {EXPECTED}"
            )
        text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
        bad = BadValues()
        stripped = text.lstrip()
        parsed = None
        if mlflow_logs.is_metric_file(stripped):
            parsed = mlflow_logs.read_metric_file(path, text, bad)
        elif stripped[:1] in "{[" and not _LOG_STAMP.match(stripped):
            parsed = read_json_file(path, text, bad)
            if parsed is None:
                parsed = read_jsonl(path, text, bad)
        if parsed is None:
            parsed = text_logs.read_text_log(path, text, bad)
        if bad.count:
            parsed.notes.append(f"{bad.count} values where numbers belong were not numbers (first: {bad.first})")
            if not any("loss" in r.values or "eval_loss" in r.values for r in parsed.rows):
                raise ToolError(
                    "log_bad_values",
                    f"no usable loss values; {bad.first}",
                    "loss, eval_loss, learning_rate and grad_norm must be numbers",
                )
    if note:
        parsed.notes.insert(0, note)
    if not parsed.rows:
        parsed.notes.append(
            f"{path.name} was read as {parsed.format} but holds no loss values yet "
            "(nothing logged: check logging_steps against the number of steps)"
        )
    return parsed
