"""The markdown report of estimate_cost (the full estimate; the tool's return value is bounded)."""

from __future__ import annotations

from tools.cost.models import CostEstimate
from tools.cost.parts import money


def write_report(result: CostEstimate) -> str:
    lines = ["# Cost estimate", ""]
    if result.dataset:
        d = result.dataset
        lines += [
            f"Dataset `{d.path}`: {d.examples} examples, {d.tokens_per_epoch:,} tokens per epoch ({d.counter}).",
            "",
        ]
    lines += [
        "| provider | model | method | epochs | training | base/request | ft/request | fixed/month | break-even |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in result.options:
        t, i, b = o.training, o.inference, o.break_even
        lines.append(
            "| "
            + " | ".join(
                [
                    o.provider,
                    o.model,
                    o.method,
                    f"{t.epochs:g}",
                    money(t.cost_usd) if t.cost_usd is not None else "unknown",
                    money(i.base_usd_per_request) if i else "-",
                    money(i.ft_usd_per_request) if i else "-",
                    money(i.fixed_usd_per_month) if i else "-",
                    ("never" if b.never else f"{b.requests:,.0f} req" if b.requests is not None else "-") if b else "-",
                ]
            )
            + " |"
        )
    for o in result.options:
        if o.break_even:
            lines += ["", f"**{o.provider} / {o.model}**: {o.break_even.statement}"]
        for g in o.gpu_options:
            lines.append(
                f"- {g.gpus}x {g.gpu}: need {g.memory_need_gb} GB, {g.hours} h"
                + (f", {money(g.cost_usd)} at {g.vendor}" if g.cost_usd is not None else "")
            )
    if result.sensitivity:
        lines += [
            "",
            "## Sensitivity",
            "",
            "| variable | value | training | break-even requests | months |",
            "|---|---|---|---|---|",
        ]
        for s in result.sensitivity:
            lines.append(
                f"| {s.variable} | {s.value} | "
                f"{money(s.training_cost_usd) if s.training_cost_usd is not None else '-'} | "
                f"{s.break_even_requests if s.break_even_requests is not None else '-'} | "
                f"{s.break_even_months if s.break_even_months is not None else '-'} |"
            )
    lines += ["", "## Assumptions", ""] + [
        f"- {a.what}: {a.value} ({a.source}, as of {a.as_of})" for a in result.assumptions
    ]
    for title, items in (("Excluded", result.excluded), ("Notes", result.notes), ("Warnings", result.warnings)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {x}" for x in items]
    return "\n".join(lines) + "\n"
