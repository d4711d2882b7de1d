"""`finetune cost`: training cost, GPU hours, inference base vs fine-tuned, break-even and sensitivity."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import JsonFlag, print_notes, run
from tools.cost.models import CostEstimate
from tools.cost.parts import money


def _m(x: float | None) -> str:
    return "unknown" if x is None else money(x)


def render_cost(result: CostEstimate, console: Console) -> None:
    if result.dataset:
        d = result.dataset
        console.print(
            f"{d.path}: {d.examples} examples, {d.tokens_per_epoch:,} tokens per epoch "
            f"({d.counter}{', approximate' if d.approximate else ''})"
        )
    table = Table(title="Training and inference")
    for column in (
        "provider / model",
        "method",
        "epochs",
        "training",
        "base / request",
        "ft / request",
        "fixed / month",
        "break-even",
    ):
        table.add_column(column)
    for o in result.options:
        i, b = o.inference, o.break_even
        be = "-" if b is None else "never" if b.never else f"{b.requests:,.0f} req" if b.requests is not None else "-"
        table.add_row(
            f"{o.provider} / {o.model}",
            o.method,
            f"{o.training.epochs:g}",
            _m(o.training.cost_usd),
            _m(i.base_usd_per_request) if i else "-",
            _m(i.ft_usd_per_request) if i else "-",
            _m(i.fixed_usd_per_month) if i else "-",
            be,
        )
    console.print(table)
    for o in result.options:
        if o.training.note:
            console.print(f"[dim]{o.provider} / {o.model}: {o.training.note}[/]")
        if o.break_even:
            console.print(f"{o.provider} / {o.model}: {o.break_even.statement}")
        for g in o.gpu_options:
            console.print(
                f"  {g.gpus}x {g.gpu}: needs {g.memory_need_gb} GB, {g.hours} h"
                + (f", {_m(g.cost_usd)} at {g.vendor} ({g.tier})" if g.cost_usd is not None else "")
            )
        for line in o.over_budget:
            console.print(f"  [yellow]over budget[/]: {line}")
    if result.sensitivity:
        table = Table(title=f"Sensitivity ({result.sensitivity_option})")
        for column in ("variable", "value", "training", "break-even requests", "months"):
            table.add_column(column)
        for s in result.sensitivity:
            table.add_row(
                s.variable,
                s.value,
                _m(s.training_cost_usd),
                "-" if s.break_even_requests is None else f"{s.break_even_requests:,.0f}",
                "-" if s.break_even_months is None else f"{s.break_even_months:.2f}",
            )
        console.print(table)
    console.print("\n[bold]Assumptions[/]")
    for a in result.assumptions:
        console.print(f"  - {a.what}: {a.value} [dim]({a.source}, {a.as_of})[/]")
    for line in result.excluded:
        console.print(f"[dim]excluded: {line}[/]")
    for line in result.notes:
        console.print(f"[yellow]note[/]: {line}")
    print_notes(console, result.warnings)
    if result.report:
        console.print(f"report: {result.report}")


def cost(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Argument(help="Training JSONL (tokens are counted).")] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="openai, together, fireworks, self-hosted, rented-gpu... (default: compare)"),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="The provider's model id or alias.")] = None,
    method: Annotated[str | None, typer.Option("--method")] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="Compare only this family (open-weight, gpt...).")
    ] = None,
    tokens: Annotated[
        int | None, typer.Option("--tokens", help="Training tokens per epoch, without a dataset.")
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    requests: Annotated[int | None, typer.Option("--monthly-requests")] = None,
    base_prompt: Annotated[
        int | None, typer.Option("--base-prompt-tokens", help="Prompt tokens per request today.")
    ] = None,
    ft_prompt: Annotated[
        int | None, typer.Option("--ft-prompt-tokens", help="Prompt tokens after fine-tuning.")
    ] = None,
    output: Annotated[int | None, typer.Option("--output-tokens")] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Model serving today, if different (distillation).")
    ] = None,
    open_weight_model: Annotated[
        str | None, typer.Option("--open-weight-model", help="HF id of the open-weight base.")
    ] = None,
    size: Annotated[float | None, typer.Option("--size", help="Open-weight model size in billions.")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="gpus.yaml id.")] = None,
    hosting: Annotated[
        str | None, typer.Option("--hosting", help="provider/deployment, e.g. azure-openai/standard.")
    ] = None,
    hours: Annotated[float | None, typer.Option("--training-hours", help="For hourly-billed (RFT) training.")] = None,
    budget: Annotated[float | None, typer.Option("--training-budget")] = None,
    monthly_budget: Annotated[float | None, typer.Option("--inference-budget")] = None,
    report: Annotated[str | None, typer.Option("--report", help="Write the full estimate as markdown.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Estimate training and inference cost and the break-even, from a dataset or token totals."""
    args = {
        "dataset": dataset,
        "provider": provider,
        "model": model,
        "method": method,
        "family": family,
        "training_tokens": tokens,
        "epochs": epochs,
        "monthly_requests": requests,
        "base_prompt_tokens": base_prompt,
        "ft_prompt_tokens": ft_prompt,
        "output_tokens": output,
        "base_model": base_model,
        "open_weight_model": open_weight_model,
        "model_params_b": size,
        "gpu": gpu,
        "hosting": hosting,
        "training_hours": hours,
        "training_budget_usd": budget,
        "monthly_inference_budget_usd": monthly_budget,
        "report": report,
    }
    run(ctx, "estimate_cost", {k: v for k, v in args.items() if v is not None}, json_out=json_out, render=render_cost)


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
