"""What estimate_cost says about a path besides money: how the fine-tune is served, when the path closes to new
jobs and when its serving ends, who may still start jobs, and which fact rows it used (for the notices)."""

from __future__ import annotations

from datetime import date

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.models import CostOption


def _inference_end(provider: str, model: str) -> date | None:
    rows = [r for r in knowledge.pricing().inference if r.provider == provider and r.model == model]
    dates = [d for d in (r.known_serving_until() for r in rows) if d is not None]
    return min(dates) if dates else None


def option_facts(option: CostOption, usage: knowledge.FactUsage, notes: list[str]) -> date | None:
    """Fill the option's closing date, serving mode and eligibility; record the rows it used; return the day its
    serving ends (the payback must fit before it), when known."""
    p = knowledge.providers().provider(option.provider)
    try:
        knowledge.offering_usage(option.provider, option.model, usage, option.method)
        m = p.model(option.model)
    except ToolError:
        usage.add([p], file="providers.yaml")
        return knowledge.known_date(p.serving_until)
    option.closes = p.model_until(m)
    option.serving = knowledge.serving_text(p.serving_of(m))
    if p.eligibility is not None:
        option.eligibility = p.eligibility.rule
        notes.append(f"{p.name}: {p.eligibility.rule}")
    ends = [d for d in (p.model_serving_until(m), _inference_end(option.provider, option.model)) if d is not None]
    return min(ends) if ends else None
