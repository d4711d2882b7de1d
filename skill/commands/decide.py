"""`finetune decide`: the decision checklist -> prompt / few-shot / RAG / fine-tune / RAG + fine-tune / not yet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from skill.console import JsonFlag, fail, print_notes, run, workspace_of
from tools.core.errors import ToolError
from tools.decide.decide_fit import DecideFitResult


def render_decision(result: DecideFitResult, console: Console) -> None:
    console.print(f"[bold]Recommendation: {result.recommendation}[/] (confidence {result.confidence})")
    console.print(result.summary)
    for reason in result.confidence_reasons:
        console.print(f"  [dim]- {reason}[/]")
    console.print("\n[bold]Rules that fired[/]")
    for rule in result.rules_fired:
        mark = "[green]*[/]" if rule.decisive else " "
        console.print(f" {mark} {rule.id} -> {rule.verdict}: {rule.reason} [dim]({rule.source})[/]")
    if result.what_would_change:
        console.print("\n[bold]What would change the verdict[/]")
        for c in result.what_would_change:
            console.print(f"  - {c.field} (now {c.now}) {c.would_need} -> {c.verdict} [dim]({c.rule})[/]")
    console.print("\n[bold]Next steps[/]")
    for i, step in enumerate(result.next_steps, 1):
        console.print(f"  {i}. {step.step}" + (f" [dim]({step.tool})[/]" if step.tool else ""))
    if result.principles:
        console.print("\n[bold]Keep in mind[/]")
        for p in result.principles:
            console.print(f"  - {p.text}")
    for line in result.assumptions:
        console.print(f"[dim]assumed: {line}[/]")
    print_notes(console, result.warnings, findings=result.findings)


def decide(
    ctx: typer.Context,
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers",
            help="Checklist answers (YAML, like examples/answers.yaml); "
            "default: the answers recorded in .finetune/checklist.json.",
        ),
    ] = None,
    failure_mode: Annotated[
        str | None, typer.Option("--failure-mode", help="format, style, knowledge, cost, latency, other, unknown")
    ] = None,
    quality_examples: Annotated[int | None, typer.Option("--examples", help="Checked examples available.")] = None,
    monthly_requests: Annotated[int | None, typer.Option("--monthly-requests")] = None,
    privacy: Annotated[
        str | None, typer.Option("--privacy", help="none, eu_personal_data, health, must_stay_on_premises, unknown")
    ] = None,
    training_budget: Annotated[float | None, typer.Option("--training-budget", help="USD")] = None,
    inference_budget: Annotated[float | None, typer.Option("--inference-budget", help="USD per month")] = None,
    changes_often: Annotated[
        bool | None, typer.Option("--changes-often/--stable", help="Do the requirements change often?")
    ] = None,
    eval_set: Annotated[
        bool | None, typer.Option("--eval-set/--no-eval-set", help="Is a held-out eval set in place?")
    ] = None,
    prompt_tokens: Annotated[int | None, typer.Option("--prompt-tokens", help="Length of the current prompt.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Decide whether to fine-tune from the checklist answers; flags override the answers file."""
    args: dict[str, Any] = {}
    try:
        if answers is not None:
            from skill.guide import load_answers_file

            args, _ = load_answers_file(answers, workspace_of(ctx))
        else:
            from tools.core.workspace import using
            from tools.decide.checklist import load_answers

            with using(workspace_of(ctx)):
                args = load_answers().model_dump(exclude_none=True, mode="json")
    except ToolError as exc:
        fail(exc, json_out=json_out)
    flags = {
        "failure_mode": failure_mode,
        "quality_examples": quality_examples,
        "monthly_requests": monthly_requests,
        "privacy": privacy,
        "training_budget_usd": training_budget,
        "monthly_inference_budget_usd": inference_budget,
        "requirements_change_often": changes_often,
        "eval_set_in_place": eval_set,
        "current_prompt_tokens": prompt_tokens,
    }
    args.update({k: v for k, v in flags.items() if v is not None})
    if args.get("unknown"):
        args["unknown"] = [f for f in args["unknown"] if f not in flags or flags[f] is None] or None
    run(ctx, "decide_fit", args, json_out=json_out, render=render_decision)


def register(app: typer.Typer) -> None:
    app.command("decide")(decide)
