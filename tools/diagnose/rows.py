"""The rows every log reader produces: one logged step (:class:`Row`), a parsed log (:class:`Parsed`), the
key aliases that give every format the same metric names, and the count of values that were not numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPECTED = (
    "an HF Trainer trainer_state.json (or a checkpoint/output folder), a run folder with metrics.jsonl, "
    "LLaMA-Factory trainer_log.jsonl, a console log with {'loss': ...} lines (HF, TRL, torchtune, DeepSpeed), "
    "a W&B or TensorBoard CSV export, a TensorBoard events file, an MLflow run folder, metric file or UI metric "
    "CSV, an OpenAI result CSV or job events JSON, or Together job events"
)

KEY_ALIASES: dict[str, str] = {
    "loss": "loss",
    "train_loss": "loss",
    "training_loss": "loss",
    "train/loss": "loss",
    "training loss": "loss",
    "train/train_loss": "loss",
    "eval_loss": "eval_loss",
    "valid_loss": "eval_loss",
    "validation_loss": "eval_loss",
    "eval/loss": "eval_loss",
    "val_loss": "eval_loss",
    "validation loss": "eval_loss",
    "val/loss": "eval_loss",
    "learning_rate": "learning_rate",
    "lr": "learning_rate",
    "train/learning_rate": "learning_rate",
    "learning rate": "learning_rate",
    "grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "gradient_norm": "grad_norm",
    "epoch": "epoch",
    "train/epoch": "epoch",
    "step": "step",
    "current_steps": "step",
    "global_step": "step",
    "train/global_step": "step",
    "_step": "step",
    "steps": "step",
    "iteration": "step",
}
SKIP_ROW_KEYS = ("train_runtime", "total_flos")  # HF end-of-training summary rows


@dataclass
class Row:
    line: int
    step: float | None
    values: dict[str, float]


@dataclass
class Parsed:
    path: Path
    format: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    step_unit: str = "step"
    runs: list[list[Row]] = field(default_factory=list)
    total_steps: float | None = None  # the planned number of steps, where the log says
    meta: dict[str, Any] = field(default_factory=dict)  # what the log says about the run (config, overflow lines)


def to_number(value: Any) -> float | None:
    """A float (NaN/inf kept) for numbers and numeric strings; None for null/blank/bool/other."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text or text in {"none", "null", "-"}:
            return None
        try:
            return float(text)
        except ValueError:
            return None
    return None


class BadValues:
    """Counts values that should have been numbers; the first one is named in notes/errors."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def add(self, where: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where


def normalise(raw: dict[str, Any], line: int, path: Path, bad: BadValues) -> Row | None:
    """One raw log record -> Row; None for summary rows and rows without any metric."""
    if any(k in raw for k in SKIP_ROW_KEYS) and "loss" not in raw:
        return None
    values: dict[str, float] = {}
    step: float | None = None
    for key, value in raw.items():
        name = KEY_ALIASES.get(str(key).strip().lower(), str(key).strip())
        if isinstance(value, (dict, list)):
            continue
        number = to_number(value)
        if number is None:
            if (
                isinstance(value, str)
                and value.strip().lower() not in {"", "none", "null", "-", "no log"}
                and name in {"loss", "eval_loss", "learning_rate", "grad_norm", "epoch", "step"}
            ):
                bad.add(f"{path.name} line {line}: {key}={value[:30]!r} is not a number")
            continue
        if name == "step":
            step = number if math.isfinite(number) else None
        elif name not in values:
            values[name] = number
    if not values:
        return None
    return Row(line=line, step=step, values=values)


MESSAGE_ROW = re.compile(
    r"step\s*:?\s*(\d+)(?:\s*/\s*\d+)?[^0-9]*?(?:training|train)?[ _]?loss\s*[=:]\s*([-\w.+]+)"
    r"(?:.*?(?:validation|valid|eval)[ _]?loss\s*[=:]\s*([-\w.+]+))?",
    re.I,
)


def message_row(message: str, line: int, path: Path, bad: BadValues) -> Row | None:
    m = MESSAGE_ROW.search(message)
    if not m:
        return None
    raw: dict[str, Any] = {"step": m.group(1), "loss": m.group(2).rstrip(",.")}
    if m.group(3):
        raw["eval_loss"] = m.group(3).rstrip(",.")
    return normalise(raw, line, path, bad)
