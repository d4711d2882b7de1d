"""``reference/data/lora_defaults.yaml``: the training defaults (every number a plan, a run or a check starts from),
each with why, its source and its date. Here, below the families and the plan, so that validate's template check
and the training engine read the same numbers."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts


class DefaultRow(Fact):
    """One default: a named number (or choice) and why, with its source."""

    name: str
    value: float | str
    why: str


class LoraDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: list[DefaultRow]
    choices: list[DefaultRow]
    watchdog: list[DefaultRow]
    throughput: list[DefaultRow]

    def row(self, name: str) -> DefaultRow:
        for section in (self.hyperparameters, self.choices, self.watchdog, self.throughput):
            for r in section:
                if r.name == name:
                    return r
        raise ToolError(
            "unknown_default", f"lora_defaults.yaml has no row {name!r}", "add it with value, why, source and as_of"
        )

    def number(self, name: str) -> float:
        value = self.row(name).value
        if isinstance(value, str):
            raise ToolError("bad_default", f"lora_defaults.yaml {name}: {value!r} is not a number", "fix the file")
        return float(value)

    def text(self, name: str) -> str:
        return str(self.row(name).value)


@cache
def load_defaults() -> LoraDefaults:
    """``reference/data/lora_defaults.yaml``, validated (cached per process)."""
    return load_facts("lora_defaults", LoraDefaults)


__all__ = ["DefaultRow", "LoraDefaults", "load_defaults"]
