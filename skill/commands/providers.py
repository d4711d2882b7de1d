"""`finetune providers`: rank where to fine-tune under privacy, region, budget, family and deadline constraints."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from skill.console import EXIT_BAD_INPUT, JsonFlag, err, run


def providers(
    ctx: typer.Context,
    on_premises: Annotated[bool, typer.Option("--on-premises", help="The data may not leave our machines.")] = False,
    privacy: Annotated[
        str | None, typer.Option("--privacy", help="none, eu_personal_data, health, must_stay_on_premises")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="e.g. eu, us, us-east-1")] = None,
    zero_retention: Annotated[bool, typer.Option("--zero-retention", help="Require zero data retention.")] = False,
    hipaa: Annotated[bool, typer.Option("--hipaa", help="Require a HIPAA BAA.")] = False,
    budget: Annotated[float | None, typer.Option("--budget", help="Training budget, USD (with --tokens).")] = None,
    tokens: Annotated[int | None, typer.Option("--tokens", help="Training tokens per epoch, to price options.")] = None,
    family: Annotated[str | None, typer.Option("--family", help="open-weight, gpt, nova, gemini, qwen3...")] = None,
    size: Annotated[float | None, typer.Option("--size", help="Model size in billions.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="sft, lora, full, dpo, rft")] = None,
    tools: Annotated[bool, typer.Option("--tool-calling", help="The model must call tools.")] = False,
    vision: Annotated[bool, typer.Option("--vision", help="The model must read images.")] = False,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="YYYY-MM-DD the model must be in production.")
    ] = None,
    examples: Annotated[int | None, typer.Option("--examples", help="Training examples we have.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Rank concrete fine-tuning options (provider + model + method) against your constraints."""
    when = None
    if deadline:
        try:
            when = date.fromisoformat(deadline)
        except ValueError:
            err.print(f"[red]error[/]: --deadline must be YYYY-MM-DD, got {deadline!r}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    args = {
        "data_may_leave": False if on_premises else None,
        "privacy": privacy,
        "region": region,
        "zero_retention": zero_retention or None,
        "hipaa_baa": hipaa or None,
        "training_budget_usd": budget,
        "training_tokens": tokens,
        "model_family": family,
        "model_size_b": size,
        "method": method,
        "needs_tool_calling": tools or None,
        "needs_vision": vision or None,
        "deadline": when.isoformat() if when else None,
        "examples": examples,
    }
    run(ctx, "select_provider", args, json_out=json_out, problems=lambda r: not r.options)


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)
