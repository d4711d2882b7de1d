"""Readers for console training logs: HF Trainer, TRL, Axolotl, Unsloth, torchtune, DeepSpeed, notebook and
model-card tables, provider messages. CSV exports are read by :mod:`tools.diagnose.csv_logs`.

DeepSpeed's own engine prints ``step=N, skipped=K, lr=[...]`` every ``steps_per_print`` steps and an
``OVERFLOW! Rank 0 Skipping step. Attempted loss scale: A, reducing to B`` line for every optimizer step its fp16
loss scaler skipped; both are kept (as the ``skipped_steps`` series and in ``meta``) so that the diagnosis can
tell skipped steps from frozen weights.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.diagnose.csv_logs import read_csv
from tools.diagnose.rows import EXPECTED, BadValues, Parsed, Row, message_row, normalise

_NUM = r"-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|-?nan|-?inf(?:inity)?|NaN|None"
_DICT = re.compile(r"\{[^{}]*?['\"](?:loss|eval_loss|train_loss|train/loss|eval/loss)['\"]\s*:[^{}]*\}")
_PAIR = re.compile(r"['\"]([^'\"]+)['\"]\s*:\s*['\"]?(" + _NUM + r")['\"]?", re.I)
_TQDM = re.compile(r"(\d+)/(\d+)\s*\[")
_TORCHTUNE = re.compile(r"Step\s+(\d+)\s*\|\s*(.*)")
_KV = re.compile(r"([A-Za-z_/]+)\s*:\s*(" + _NUM + r")", re.I)
_TABLE_HEAD = re.compile(r"^\s*Step\s+Training Loss(\s+Validation Loss)?", re.I)
_DS_STEP = re.compile(r"\bstep=(\d+), skipped=(\d+), lr=\[([^\],]*)")
_DS_LOSS = re.compile(r"\]\s*Loss:\s*(" + _NUM + r")")
_DS_OVERFLOW = re.compile(
    r"OVERFLOW! Rank \d+ Skipping step\.(?: Attempted loss scale: (\d+)(?:, reducing to (\d+))?)?"
)
_DS_PRECISION = (
    re.compile(r'"(fp16|bf16)"\s*:\s*\{[^{}]*?"enabled"\s*:\s*(true|false)', re.I),
    re.compile(r"\b(fp16|bf16)_enabled\s*\.+\s*(True|False)\b"),
)


def read_text_log(path: Path, text: str, bad: BadValues) -> Parsed:
    first = text.lstrip().split("\n", 1)[0]
    if "," in first and not _DICT.search(first):
        parsed = read_csv(path, text, bad)
        if parsed is not None:
            return parsed
    return read_console(path, text, bad)


class _Console:
    """Line-by-line state of the console reader; each handler returns True when it consumed the line."""

    def __init__(self, path: Path, bad: BadValues) -> None:
        self.path, self.bad = path, bad
        self.rows: list[Row] = []
        self.fmt = "console"
        self.saw_step = False
        self.in_table = self.table_eval = False
        self.md_cols: list[str] | None = None
        self.ds_rows: list[Row] = []
        self.ds_step: str | None = None
        self.overflows: list[tuple[int, int | None, int | None]] = []

    def add(self, raw: dict[str, Any], n: int, *, fmt: str | None = None, stepped: bool = False) -> bool:
        row = normalise(raw, n, self.path, self.bad)
        if row is None:
            return False
        self.rows.append(row)
        if fmt:
            self.fmt = fmt
        self.saw_step = self.saw_step or stepped or row.step is not None
        return True

    def line(self, n: int, chunk: str) -> None:
        self._deepspeed(n, chunk)
        for handler in (self._dicts, self._torchtune, self._torchtune_eval, self._markdown, self._notebook):
            if handler(n, chunk):
                return
        if "loss" in chunk.lower():
            msg = message_row(chunk, n, self.path, self.bad)
            if msg is not None:
                self.rows.append(msg)
                self.fmt, self.saw_step = "provider_messages", True

    def _dicts(self, n: int, chunk: str) -> bool:
        matches = list(_DICT.finditer(chunk))
        for m in matches:
            raw: dict[str, Any] = {k: v for k, v in _PAIR.findall(m.group(0))}
            tq = _TQDM.findall(chunk[: m.start()])
            if "step" not in raw and tq:
                raw["step"] = tq[-1][0]
            self.add(raw, n)
        return bool(matches)

    def _deepspeed(self, n: int, chunk: str) -> None:
        over = _DS_OVERFLOW.search(chunk)
        if over:
            scale = int(over.group(1)) if over.group(1) else None
            self.overflows.append((n, scale, int(over.group(2)) if over.group(2) else None))
            return
        step = _DS_STEP.search(chunk)
        if step:
            self.ds_step = step.group(1)
            raw = {"step": step.group(1), "skipped_steps": step.group(2), "learning_rate": step.group(3)}
            row = normalise(raw, n, self.path, self.bad)
            if row is not None:
                self.ds_rows.append(row)
            return
        loss = _DS_LOSS.search(chunk) if self.ds_step is not None else None
        if loss:
            row = normalise({"step": self.ds_step, "loss": loss.group(1)}, n, self.path, self.bad)
            if row is not None:
                self.ds_rows.append(row)

    def _torchtune(self, n: int, chunk: str) -> bool:
        tt = _TORCHTUNE.search(chunk)
        if not tt:
            return False
        raw: dict[str, Any] = {k: v for k, v in _KV.findall(tt.group(2))}
        raw["step"] = tt.group(1)
        self.add(raw, n, fmt="torchtune_log", stepped=True)
        return True

    def _torchtune_eval(self, n: int, chunk: str) -> bool:
        if "validation loss:" not in chunk.lower() or not self.rows or self.fmt != "torchtune_log":
            return False
        vm = re.search(r"validation loss:\s*(" + _NUM + ")", chunk, re.I)
        if vm:
            self.add({"eval_loss": vm.group(1), "step": self.rows[-1].step}, n)
        return True

    def _markdown(self, n: int, chunk: str) -> bool:
        if not chunk.lstrip().startswith("|"):
            if chunk.strip():
                self.md_cols = None  # any other text ends a table
            return False
        cells = [c.strip() for c in chunk.strip().strip("|").split("|")]
        low = [c.lower() for c in cells]
        if "step" in low and ("training loss" in low or "validation loss" in low):
            self.md_cols, self.fmt, self.saw_step = low, "model_card_table", True
        elif self.md_cols and len(cells) == len(self.md_cols) and not set("".join(cells)) <= set(":- "):
            self.add({c: v for c, v in zip(self.md_cols, cells, strict=False) if v.lower() != "no log"}, n)
        return True

    def _notebook(self, n: int, chunk: str) -> bool:
        head = _TABLE_HEAD.match(chunk)
        if head:
            self.in_table, self.table_eval, self.fmt = True, bool(head.group(1)), "notebook_table"
            return True
        if not self.in_table:
            return False
        cells = chunk.split()
        if len(cells) >= 2 and cells[0].isdigit():
            raw = {"step": cells[0], "loss": cells[1]}
            if self.table_eval and len(cells) >= 3:
                raw["eval_loss"] = cells[2]
            self.add(raw, n, stepped=True)
            return True
        if chunk.strip():
            self.in_table = False
        return False


def _printed_precision(text: str) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for pattern in _DS_PRECISION:
        for name, value in pattern.findall(text):
            found.setdefault(name.lower(), value.lower() == "true")
    return found


def read_console(path: Path, text: str, bad: BadValues) -> Parsed:
    state = _Console(path, bad)
    for n, physical in enumerate(text.split("\n"), 1):
        for chunk in physical.split("\r"):
            state.line(n, chunk)
    if not state.rows and state.ds_rows:
        state.rows, state.fmt, state.saw_step = state.ds_rows, "deepspeed_console", True
    if not state.rows:
        raise ToolError("log_format_unknown", f"{path.name}: no training-log lines found", f"expected {EXPECTED}")
    parsed = Parsed(path, state.fmt, state.rows)
    if state.overflows or any("skipped_steps" in r.values for r in state.ds_rows):
        parsed.meta["fp16_overflows"] = state.overflows
        parsed.meta["deepspeed_skipped"] = [
            (r.step, r.values["skipped_steps"]) for r in state.ds_rows if "skipped_steps" in r.values
        ]
    printed = _printed_precision(text)
    if printed:
        parsed.meta["printed_config"] = printed
    saw_step = state.saw_step
    if state.fmt == "console" and any(r.step is None for r in state.rows if "loss" in r.values):
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
