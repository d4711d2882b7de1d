"""Readers for text training logs: console output (HF Trainer, TRL, Axolotl, Unsloth, torchtune,
notebook tables, provider messages) and CSV exports (W&B, TensorBoard, OpenAI results)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.diagnose.rows import EXPECTED, KEY_ALIASES, BadValues, Parsed, Row, message_row, normalise

_NUM = r"-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|-?nan|-?inf(?:inity)?|NaN|None"
_DICT = re.compile(r"\{[^{}]*?['\"](?:loss|eval_loss|train_loss|train/loss|eval/loss)['\"]\s*:[^{}]*\}")
_PAIR = re.compile(r"['\"]([^'\"]+)['\"]\s*:\s*['\"]?(" + _NUM + r")['\"]?", re.I)
_TQDM = re.compile(r"(\d+)/(\d+)\s*\[")
_TORCHTUNE = re.compile(r"Step\s+(\d+)\s*\|\s*(.*)")
_KV = re.compile(r"([A-Za-z_/]+)\s*:\s*(" + _NUM + r")", re.I)
_TABLE_HEAD = re.compile(r"^\s*Step\s+Training Loss(\s+Validation Loss)?", re.I)


def read_text_log(path: Path, text: str, bad: BadValues) -> Parsed:
    first = text.lstrip().split("\n", 1)[0]
    if "," in first and not _DICT.search(first):
        parsed = read_csv(path, text, bad)
        if parsed is not None:
            return parsed
    return read_console(path, text, bad)


def read_console(path: Path, text: str, bad: BadValues) -> Parsed:
    rows: list[Row] = []
    fmt = "console"
    saw_step = False
    in_table = False
    table_eval = False
    md_cols: list[str] | None = None
    for n, physical in enumerate(text.split("\n"), 1):
        for chunk in physical.split("\r"):
            matches = list(_DICT.finditer(chunk))
            for m in matches:
                raw: dict[str, Any] = {k: v for k, v in _PAIR.findall(m.group(0))}
                tq = _TQDM.findall(chunk[: m.start()])
                if "step" not in raw and tq:
                    raw["step"] = tq[-1][0]
                row = normalise(raw, n, path, bad)
                if row is not None:
                    rows.append(row)
                    saw_step = saw_step or row.step is not None
            if matches:
                continue
            tt = _TORCHTUNE.search(chunk)
            if tt:
                raw = {k: v for k, v in _KV.findall(tt.group(2))}
                raw["step"] = tt.group(1)
                row = normalise(raw, n, path, bad)
                if row is not None:
                    rows.append(row)
                    fmt, saw_step = "torchtune_log", True
                continue
            if "validation loss:" in chunk.lower() and rows and fmt == "torchtune_log":
                vm = re.search(r"validation loss:\s*(" + _NUM + ")", chunk, re.I)
                if vm:
                    row = normalise({"eval_loss": vm.group(1), "step": rows[-1].step}, n, path, bad)
                    if row:
                        rows.append(row)
                continue
            if chunk.lstrip().startswith("|"):
                cells = [c.strip() for c in chunk.strip().strip("|").split("|")]
                low = [c.lower() for c in cells]
                if "step" in low and ("training loss" in low or "validation loss" in low):
                    md_cols, fmt, saw_step = low, "model_card_table", True
                    continue
                if md_cols and len(cells) == len(md_cols) and not set("".join(cells)) <= set(":- "):
                    raw = {c: v for c, v in zip(md_cols, cells, strict=False) if v.lower() != "no log"}
                    row = normalise(raw, n, path, bad)
                    if row is not None:
                        rows.append(row)
                    continue
                continue
            md_cols = md_cols if not chunk.strip() or md_cols is None else None
            head = _TABLE_HEAD.match(chunk)
            if head:
                in_table, table_eval, fmt = True, bool(head.group(1)), "notebook_table"
                continue
            if in_table:
                cells = chunk.split()
                if len(cells) >= 2 and cells[0].isdigit():
                    raw = {"step": cells[0], "loss": cells[1]}
                    if table_eval and len(cells) >= 3:
                        raw["eval_loss"] = cells[2]
                    row = normalise(raw, n, path, bad)
                    if row is not None:
                        rows.append(row)
                        saw_step = True
                    continue
                if chunk.strip():
                    in_table = False
            msg = message_row(chunk, n, path, bad) if "loss" in chunk.lower() else None
            if msg is not None:
                rows.append(msg)
                fmt, saw_step = "provider_messages", True
    if not rows:
        raise ToolError("log_format_unknown", f"{path.name}: no training-log lines found", f"expected {EXPECTED}")
    parsed = Parsed(path, fmt, rows)
    if fmt == "console" and any(r.step is None for r in rows if "loss" in r.values):
        saw_step = False  # progress-bar steps on only some lines cannot be trusted
    if not saw_step:
        _number_by_log_index(parsed)
    return parsed


def _number_by_log_index(parsed: Parsed) -> None:
    """Console dicts from HF Trainer carry no step: number the train logs 1, 2, ... instead."""
    k = 0
    for row in parsed.rows:
        if "loss" in row.values:
            k += 1
        row.step = float(max(k, 1))
    parsed.step_unit = "log point"
    parsed.notes.append("the log prints no step numbers: steps are counted in logged points (log index)")


def _col_name(header: str) -> tuple[str | None, str]:
    """W&B-style 'run - metric' -> (run, metric); plain columns -> (None, column)."""
    if " - " in header:
        run, metric = header.rsplit(" - ", 1)
        return run.strip(), metric.strip()
    return None, header.strip()


def read_csv(path: Path, text: str, bad: BadValues) -> Parsed | None:
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
    except (csv.Error, StopIteration):
        return None
    names = [h.strip() for h in header]
    lower = [h.lower() for h in names]
    if lower[:3] == ["wall time", "step", "value"]:
        return _tensorboard_csv(path, reader, bad)
    runs: dict[str | None, dict[int, str]] = {}
    step_cols: dict[str | None, int] = {}
    for i, h in enumerate(names):
        run, metric = _col_name(h)
        if metric.endswith("__MIN") or metric.endswith("__MAX") or not metric:
            continue
        key = KEY_ALIASES.get(metric.lower(), metric)
        if key == "step":
            step_cols[run] = i
        else:
            runs.setdefault(run, {})[i] = metric
    shared_step = step_cols.get(None)
    known = {"loss", "eval_loss"}
    if not any(KEY_ALIASES.get(m.lower(), m) in known for cols in runs.values() for m in cols.values()):
        return None
    if "train_loss" in lower and "step" in lower:
        fmt = "openai_results_csv"
    elif "training_loss" in lower:
        fmt = "openai_results_csv_legacy"
    elif any(r is not None for r in runs):
        fmt = "wandb_csv"
    else:
        fmt = "csv"
    per_run: dict[str | None, list[Row]] = {r: [] for r in runs}
    for n, record in enumerate(reader, 2):
        if not any(cell.strip() for cell in record):
            continue
        for run, cols in runs.items():
            raw: dict[str, Any] = {m: record[i] for i, m in cols.items() if i < len(record)}
            if fmt.startswith("openai") and any(str(v).strip() == "-1" for v in raw.values()):
                raw = {k: v for k, v in raw.items() if str(v).strip() != "-1"}  # legacy "not measured"
            sc = step_cols.get(run, shared_step)
            if sc is not None and sc < len(record):
                raw["step"] = record[sc]
            if fmt == "openai_results_csv" and str(raw.get("full_valid_loss", "")).strip():
                raw["valid_loss_batch"] = raw.pop("valid_loss", None)
                raw["eval_loss"] = raw.pop("full_valid_loss")
            row = normalise(raw, n, path, bad)
            if row is not None:
                per_run[run].append(row)
    ordered = [rows for rows in per_run.values() if rows]
    if not ordered:
        return None
    parsed = Parsed(path, fmt, ordered[-1])
    if (
        fmt == "openai_results_csv"
        and any("eval_loss" in r.values for r in parsed.rows)
        and "full_valid_loss" not in lower
    ):
        parsed.notes.append(
            "valid_loss in an OpenAI result file is measured on one batch per step: a noisy "
            "eval curve; judge the best checkpoint with care"
        )
    if len(ordered) > 1:
        labels = [str(r) for r in per_run if per_run[r]]
        parsed.runs = ordered
        parsed.notes.append(
            f"{len(ordered)} runs in one export ({', '.join(labels[:4])}); analysed the last, {labels[-1]!r}"
        )
    if shared_step is None and not step_cols:
        for k, row in enumerate(parsed.rows, 1):
            row.step = float(k)
        parsed.step_unit = "row"
    return parsed


def _tensorboard_csv(path: Path, reader: Any, bad: BadValues) -> Parsed:
    stem = path.stem.lower()
    if "grad" in stem:
        metric = "grad_norm"
    elif "learning_rate" in stem or re.search(r"(^|[_\-/])lr($|[_\-])", stem):
        metric = "learning_rate"
    elif ("eval" in stem or "val" in stem) and "loss" in stem:
        metric = "eval_loss"
    else:
        metric = "loss"
    rows = []
    for n, record in enumerate(reader, 2):
        if len(record) >= 3:
            row = normalise({"step": record[1], metric: record[2]}, n, path, bad)
            if row is not None:
                rows.append(row)
    return Parsed(
        path, "tensorboard_csv", rows, notes=[f"TensorBoard scalar export: read as {metric} (from the file name)"]
    )
