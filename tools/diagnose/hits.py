"""What every check returns: a finding before its advice is attached (:class:`Hit`), and the best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Literal

Severity = Literal["info", "warning", "severe"]
SEVERITY_RANK = {"info": 0, "warning": 1, "severe": 2}


@dataclass
class Hit:
    """A finding before advice is attached: kind, severity, one-line summary, evidence, template values.

    Evidence items are (step, value, what, series): the series is the curve the value belongs to (loss,
    eval_loss, grad_norm, learning_rate...), so the plot marks it on the right axis."""

    kind: str
    severity: Severity
    summary: str
    evidence: list[tuple[float | None, float | None, str, str | None]] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Best:
    """The best checkpoint: by the metric the run selects checkpoints with when it has one, else by eval loss."""

    step: float
    eval_loss: float | None
    epoch: float | None
    stop_step: float | None
    steps_saved: float | None
    metric: str = "eval_loss"
    value: float | None = None
    chosen_by: str = "lowest eval loss"


def fmt(x: float) -> str:
    return f"{x:.4g}"


def level(values: list[float], k: int) -> float:
    """The median of the last ``k`` values: where a curve ends, robust to one noisy point."""
    return median(values[-k:])
