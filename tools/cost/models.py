"""Output models of estimate_cost and its markdown report (tools/cost/parts.py does the arithmetic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from tools.cost.estimate_cost import CostEstimate

DIGITS = 6


class Assumption(BaseModel):
    what: str
    value: str
    source: str
    as_of: str


class TrainingCost(BaseModel):
    unit: str | None = Field(None, description="per_1m_tokens, per_hour, per_gpu_hour, free, or gpu (computed from GPU hours)")
    price_usd: float | None = Field(None, description="the rate in that unit; null: no trusted price in our data")
    epochs: float = 1
    epochs_reason: str = ""
    billed_tokens: int | None = None
    hours: float | None = None
    cost_usd: float | None = None
    min_fee_applied: bool = False
    cap_applied: bool = False
    billing: str | None = None
    note: str | None = None


class GpuOption(BaseModel):
    gpu: str
    gpus: int
    memory_need_gb: float
    gpu_memory_gb: float
    fits: bool
    hours: float | None = Field(None, description="wall-clock hours at the planning MFU")
    measured_hours: float | None = Field(None, description="hours from a measured tokens/s row, where one matches")
    vendor: str | None = None
    tier: str | None = None
    usd_per_gpu_hour: float | None = None
    cost_usd: float | None = None


class InferenceCost(BaseModel):
    base_model: str
    ft_model: str
    tier: str
    base_prompt_tokens: int
    ft_prompt_tokens: int
    output_tokens: int
    base_usd_per_request: float
    ft_usd_per_request: float
    saving_usd_per_request: float
    monthly_requests: int | None
    base_usd_per_month: float | None
    ft_usd_per_month: float | None = Field(None, description="fine-tuned token cost per month, without fixed fees")
    fixed_usd_per_month: float = 0
    fixed_items: list[str] = []


class BreakEven(BaseModel):
    never: bool
    statement: str
    requests: float | None = Field(None, description="requests to recover the training cost")
    months: float | None = Field(None, description="months at the given volume, fixed fees included")
    monthly_requests_to_cover_fixed: float | None = None


class CostOption(BaseModel):
    provider: str
    model: str
    method: str
    training: TrainingCost
    gpu_options: list[GpuOption] = []
    inference: InferenceCost | None = None
    break_even: BreakEven | None = None
    over_budget: list[str] = []
    warnings: list[str] = []


class Sensitivity(BaseModel):
    variable: str
    value: str
    training_cost_usd: float | None
    break_even_requests: float | None
    break_even_months: float | None


def money(x: float) -> str:
    if x == 0:
        return f"${x:.0f}"
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.6f}".rstrip("0")


def _round(x: float) -> float:
    return round(x, DIGITS)


def assumption(what: str, value: Any, row: Any) -> Assumption:
    return Assumption(what=what, value=str(value), source=getattr(row, "source", ""), as_of=str(getattr(row, "as_of", "")))


def write_report(result: CostEstimate) -> str:
    lines = ["# Cost estimate", ""]
    if result.dataset:
        d = result.dataset
        lines += [f"Dataset `{d.path}`: {d.examples} examples, {d.tokens_per_epoch:,} tokens per epoch ({d.counter}).", ""]
    lines += ["| provider | model | method | epochs | training | base/request | ft/request | fixed/month | break-even |",
              "|---|---|---|---|---|---|---|---|---|"]
    for o in result.options:
        t, i, b = o.training, o.inference, o.break_even
        lines.append("| " + " | ".join([
            o.provider, o.model, o.method, f"{t.epochs:g}",
            money(t.cost_usd) if t.cost_usd is not None else "unknown",
            money(i.base_usd_per_request) if i else "-", money(i.ft_usd_per_request) if i else "-",
            money(i.fixed_usd_per_month) if i else "-",
            ("never" if b.never else f"{b.requests:,.0f} req" if b.requests is not None else "-") if b else "-"]) + " |")
    for o in result.options:
        if o.break_even:
            lines += ["", f"**{o.provider} / {o.model}**: {o.break_even.statement}"]
        for g in o.gpu_options:
            lines.append(f"- {g.gpus}x {g.gpu}: need {g.memory_need_gb} GB, {g.hours} h"
                         + (f", {money(g.cost_usd)} at {g.vendor}" if g.cost_usd is not None else ""))
    if result.sensitivity:
        lines += ["", "## Sensitivity", "", "| variable | value | training | break-even requests | months |", "|---|---|---|---|---|"]
        for s in result.sensitivity:
            lines.append(f"| {s.variable} | {s.value} | {money(s.training_cost_usd) if s.training_cost_usd is not None else '-'} | "
                         f"{s.break_even_requests if s.break_even_requests is not None else '-'} | "
                         f"{s.break_even_months if s.break_even_months is not None else '-'} |")
    lines += ["", "## Assumptions", ""] + [f"- {a.what}: {a.value} ({a.source}, as of {a.as_of})" for a in result.assumptions]
    for title, items in (("Excluded", result.excluded), ("Notes", result.notes), ("Warnings", result.warnings)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {x}" for x in items]
    return "\n".join(lines) + "\n"
