"""The schema of ``reference/data/training.yaml``: hyperparameter defaults and ranges, dataset sizes,
memory rules, measured throughput and named constants.

Also :func:`training`, the cached, validated file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts, propagate_review_days

TrainMethod = Literal["sft_lora", "sft_qlora", "sft_full", "dpo_lora", "dpo_full", "grpo_lora", "grpo_full", "any"]


class Hyperparameter(Fact):
    method: TrainMethod
    name: str
    default: float
    low: float
    high: float

    @model_validator(mode="after")
    def _in_range(self) -> Hyperparameter:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"{self.method}/{self.name}: default {self.default} outside {self.low}..{self.high}")
        return self


class Choice(Fact):
    name: str
    value: str


class DatasetSize(Fact):
    task: str
    min_examples: int
    start_examples: int
    good_examples: int
    rationale: str


class MemoryRule(Fact):
    method: TrainMethod
    precision: str
    bytes_per_param: float


class Throughput(Fact):
    model_params_b: float
    method: TrainMethod
    gpu: str
    gpus: int
    tokens_per_second: float
    peak_memory_gib: float | None = None


class Constant(Fact):
    id: str
    value: float
    unit: str


class TrainingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_days: int | None = Field(default=None, ge=0, description="default review_days for every row")
    hyperparameters: list[Hyperparameter]
    choices: list[Choice]
    dataset_sizes: list[DatasetSize]
    memory: list[MemoryRule]
    measured_throughput: list[Throughput]
    constants: list[Constant]

    @model_validator(mode="after")
    def _review(self) -> TrainingFile:
        propagate_review_days(self, self.review_days)
        return self

    def hyper(self, method: str, name: str) -> Hyperparameter:
        """The row for ``method`` and ``name``, else the ``any`` row for ``name``."""
        for wanted in (method, "any"):
            for h in self.hyperparameters:
                if h.method == wanted and h.name == name:
                    return h
        raise ToolError(
            "unknown_hyperparameter",
            f"no default for {name} with {method}",
            "known: " + ", ".join(sorted({h.name for h in self.hyperparameters})),
        )

    def constant(self, constant_id: str) -> Constant:
        for c in self.constants:
            if c.id == constant_id:
                return c
        raise ToolError(
            "unknown_constant",
            f"no constant {constant_id!r} in training.yaml",
            "known: " + ", ".join(c.id for c in self.constants),
        )

    def bytes_per_param(self, method: str, precision: str | None = None) -> MemoryRule:
        for m in self.memory:
            if m.method == method and (precision is None or m.precision == precision):
                return m
        raise ToolError(
            "unknown_memory_rule",
            f"no memory rule for {method}" + (f"/{precision}" if precision else ""),
            "known: " + ", ".join(f"{m.method}/{m.precision}" for m in self.memory),
        )

    def dataset_size(self, task: str) -> DatasetSize:
        for d in self.dataset_sizes:
            if d.task == task:
                return d
        raise ToolError(
            "unknown_task",
            f"no dataset-size guidance for task {task!r}",
            "known: " + ", ".join(d.task for d in self.dataset_sizes),
        )


def training() -> TrainingFile:
    return load_facts("training", TrainingFile)
