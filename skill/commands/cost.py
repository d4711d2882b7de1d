"""`finetune cost`: training cost, GPU hours, inference base vs fine-tuned, break-even and sensitivity."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import JsonFlag, print_notes, run
from tools.cost.models import CostEstimate
from tools.cost.money import money
from tools.cost.report import break_even_cell, training_cell

DEFAULT_REPORT = "cost-report.md"
MAX_NOTES = 3


def _m(x: float | None) -> str:
    return "unknown" if x is None else money(x)


def render_cost(result: CostEstimate, console: Console) -> None:
    """A short table and the lines that change a decision; the rest (assumptions, sensitivity, GPU options,
    excluded paths, every note) is in the report."""
    if result.dataset:
        d = result.dataset
        console.print(
            f"{d.path}: {d.examples} examples, {d.tokens_per_epoch:,} tokens per epoch "
            f"({d.counter}{', approximate' if d.approximate else ''})"
        )
    table = Table(title="Training and inference")
    for column in ("provider / model", "method", "training", "ft / request", "fixed / month", "break-even"):
        table.add_column(column)
    for o in result.options:
        i = o.inference
        fixed = (_m(i.fixed_usd_per_month) + (" + ?" if i.fixed_unknown else "")) if i else "-"
        table.add_row(
            f"{o.provider} / {o.model}",
            o.method,
            training_cell(o),
            _m(i.ft_usd_per_request) if i else "-",
            fixed,
            break_even_cell(o.break_even),
        )
    console.print(table)
    if len(result.options) == 1:
        o = result.options[0]
        console.print(f"training price: {o.training.price_text or o.training.note or 'unknown'}")
        if o.break_even:
            console.print(o.break_even.statement)
    for o in result.options:
        for line in o.over_budget:
            console.print(f"  [yellow]over budget[/]: {o.provider} / {o.model}: {line}")
    if result.excluded:
        console.print(f"[dim]{len(result.excluded)} paths left out (closed to new jobs or not offered)[/]")
    for line in result.notes[:MAX_NOTES]:
        console.print(f"[yellow]note[/]: {line}")
    if len(result.notes) > MAX_NOTES:
        console.print(f"[dim]{len(result.notes) - MAX_NOTES} more notes in the report[/]")
    print_notes(console, result.warnings)
    if result.report:
        console.print(f"full estimate (assumptions, sensitivity, GPU options, every note): {result.report}")


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
    report: Annotated[str, typer.Option("--report", help="Where the full estimate goes (markdown).")] = DEFAULT_REPORT,
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
