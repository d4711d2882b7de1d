"""The loss watchdog of a local run: stop on NaN/inf, on a loss far above its start, or on divergence.

Thresholds come from reference/data/lora_defaults.yaml (tools.plan.training_plan.watchdog_thresholds); the
state is saved in every checkpoint so that a resumed run keeps counting where it stopped.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Any


class Watchdog:
    """Stops a run whose loss is NaN/inf, stays far above its start, or diverges from its low."""

    def __init__(self, thresholds: dict[str, float], state: dict[str, Any] | None = None) -> None:
        self.ratio = thresholds["above_start_ratio"]
        self.patience = int(thresholds["patience"])
        self.over_min = thresholds["divergence_over_min_ratio"]
        self.window = int(thresholds["start_window"])
        state = state or {}
        self.first: list[float] = list(state.get("first", []))
        self.best: float = float(state.get("best", math.inf))
        self.bad: int = int(state.get("bad", 0))
        self.zero: int = int(state.get("zero", 0))

    def state(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "best": self.best if math.isfinite(self.best) else None,
            "bad": self.bad,
            "zero": self.zero,
        }

    def check(self, step: int, loss: float, grad_norm: float) -> str | None:
        if not math.isfinite(loss) or not math.isfinite(grad_norm):
            what = "loss" if not math.isfinite(loss) else "grad_norm"
            value = loss if what == "loss" else grad_norm
            return (
                f"{what} became {value} at step {step}: training diverged (NaN/inf); lower the learning rate, "
                "keep max_grad_norm at 1.0, use bf16 rather than fp16"
            )
        self.zero = self.zero + 1 if grad_norm == 0.0 else 0
        if self.zero >= self.patience:
            return (
                f"grad_norm is exactly 0 for {self.zero} steps in a row (to step {step}, loss {loss:.4g}): the run "
                "diverged and collapsed, the weights no longer change; lower the learning rate (/10) and restart"
            )
        if len(self.first) < self.window:
            self.first.append(loss)
            self.best = min(self.best, loss)
            return None
        start = median(self.first)
        reasons = []
        if loss > self.ratio * start:
            reasons.append(f"loss {loss:.4g} is above {self.ratio:g}x its start ({start:.4g})")
        if self.best > 0 and loss > self.over_min * self.best:
            reasons.append(f"loss {loss:.4g} is above {self.over_min:g}x its lowest value ({self.best:.4g})")
        self.best = min(self.best, loss)
        self.bad = self.bad + 1 if reasons else 0
        if self.bad >= self.patience:
            return (
                f"{reasons[0]} for {self.bad} steps in a row (to step {step}): the run diverged; "
                "lower the learning rate (/2 to /5) or add warm-up"
            )
        return None


__all__ = ["Watchdog"]
