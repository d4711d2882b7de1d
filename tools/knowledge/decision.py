"""The schema of ``reference/data/decision.yaml``: the fine-tune / prompt / RAG checklist as thresholds,
rules (conditions and a verdict) and principles.

Also :func:`decision`, the cached, validated file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts, propagate_review_days

Verdict = Literal["prompt_engineering", "few_shot", "rag", "fine_tune", "rag_plus_fine_tune", "not_yet"]


class Threshold(Fact):
    id: str
    value: float
    unit: str
    rationale: str


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    op: Literal["eq", "ne", "in", "lt", "lte", "gt", "gte", "unknown"]
    value: bool | int | float | str | list[str] | None = None
    threshold: str | None = None

    @model_validator(mode="after")
    def _one_operand(self) -> Condition:
        if self.op != "unknown" and (self.value is None) == (self.threshold is None):
            raise ValueError(f"condition on {self.field}: give exactly one of value and threshold")
        return self


class Rule(Fact):
    id: str
    conditions: list[Condition]
    verdict: Verdict
    priority: int
    reason: str
    next_step: str


class Principle(Fact):
    id: str
    text: str


class DecisionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_days: int | None = Field(default=None, ge=0, description="default review_days for every row")
    thresholds: list[Threshold]
    rules: list[Rule]
    principles: list[Principle]

    @model_validator(mode="after")
    def _thresholds_exist(self) -> DecisionFile:
        propagate_review_days(self, self.review_days)
        known = {t.id for t in self.thresholds}
        for rule in self.rules:
            for cond in rule.conditions:
                if cond.threshold is not None and cond.threshold not in known:
                    raise ValueError(f"rule {rule.id}: unknown threshold {cond.threshold!r}")
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        return self

    def threshold(self, threshold_id: str) -> Threshold:
        for t in self.thresholds:
            if t.id == threshold_id:
                return t
        raise ToolError(
            "unknown_threshold",
            f"no threshold {threshold_id!r} in decision.yaml",
            "known: " + ", ".join(t.id for t in self.thresholds),
        )


def decision() -> DecisionFile:
    return load_facts("decision", DecisionFile)
