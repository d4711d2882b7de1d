"""`finetune cost`: training cost, GPU hours, inference base vs fine-tuned, break-even and sensitivity."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, run

DEFAULT_REPORT = "cost-report.md"


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
    run(ctx, "estimate_cost", {k: v for k, v in args.items() if v is not None}, json_out=json_out)


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
