"""The markdown report of estimate_cost (the full estimate; the tool's return value and the CLI stay short)."""

from __future__ import annotations

from tools.cost.models import BreakEven, CostEstimate, CostOption
from tools.cost.money import duration_text, money


def break_even_cell(b: BreakEven | None) -> str:
    if b is None:
        return "-"
    if b.never:
        return "never"
    if b.months is not None:
        return duration_text(b.months)
    return f"{b.requests:,.0f} req" if b.requests is not None else "-"


def training_cell(o: CostOption) -> str:
    t = o.training
    if t.cost_usd is not None:
        return money(t.cost_usd)
    if t.unit == "gpu":
        return "your GPUs" if o.provider == "self-hosted" else "no confirmed offer"
    return "unconfirmed" if t.price_status == "unconfirmed" else "unknown"


def _options(result: CostEstimate) -> list[str]:
    lines = [
        "| provider | model | method | epochs | training | base/request | ft/request | fixed/month | break-even |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in result.options:
        i = o.inference
        cells = [
            o.provider,
            o.model,
            o.method,
            f"{o.training.epochs:g}",
            training_cell(o),
            money(i.base_usd_per_request) if i else "-",
            money(i.ft_usd_per_request) if i else "-",
            (money(i.fixed_usd_per_month) + (" + unconfirmed" if i.fixed_unknown else "")) if i else "-",
            break_even_cell(o.break_even),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for o in result.options:
        lines += ["", f"### {o.provider} / {o.model} ({o.method})", ""]
        lines.append(f"- training price: {o.training.price_text or o.training.note or 'unknown'}")
        if o.training.note and o.training.price_text and not o.training.note.startswith("no confirmed"):
            lines.append(f"- {o.training.note}")
        lines.append(f"- served: {o.serving or 'not documented'}")
        if o.closes:
            lines.append(f"- closes to new jobs on {o.closes}")
        if o.eligibility:
            lines.append(f"- who can start jobs: {o.eligibility}")
        if o.inference:
            lines += [f"- fixed fee: {item}" for item in o.inference.fixed_items]
        if o.break_even:
            lines.append(f"- break-even: {o.break_even.statement}")
        for g in o.gpu_options:
            lines.append(
                f"- {g.gpus}x {g.gpu}: need {g.memory_need_gb} GB, "
                + (f"{g.hours} h" if g.hours is not None else "hours unknown (no throughput figure)")
                + (f", {money(g.cost_usd)} at {g.vendor}" if g.cost_usd is not None else "")
            )
        lines += [f"- over budget: {line}" for line in o.over_budget]
    return lines


def write_report(result: CostEstimate) -> str:
    lines = ["# Cost estimate", ""]
    if result.dataset:
        d = result.dataset
        lines += [
            f"Dataset `{d.path}`: {d.examples} examples, {d.tokens_per_epoch:,} tokens per epoch ({d.counter}).",
            "",
        ]
    lines += _options(result)
    if result.sensitivity:
        lines += [
            "",
            f"## Sensitivity ({result.sensitivity_option})",
            "",
            "| variable | value | training | break-even requests | payback time |",
            "|---|---|---|---|---|",
        ]
        for s in result.sensitivity:
            lines.append(
                f"| {s.variable} | {s.value} | "
                f"{money(s.training_cost_usd) if s.training_cost_usd is not None else '-'} | "
                f"{f'{s.break_even_requests:,.0f}' if s.break_even_requests is not None else '-'} | "
                f"{duration_text(s.break_even_months) if s.break_even_months is not None else '-'} |"
            )
    lines += ["", "## Assumptions", ""] + [
        f"- {a.what}: {a.value} ({a.source}, dated {a.as_of})" for a in result.assumptions
    ]
    for title, items in (("Excluded", result.excluded), ("Notes", result.notes), ("Notices", result.warnings)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {x}" for x in items]
    return "\n".join(lines) + "\n"
