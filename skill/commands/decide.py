"""`finetune decide`: the decision checklist -> prompt / few-shot / RAG / fine-tune / RAG + fine-tune / not yet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from skill.console import JsonFlag, fail, run, workspace_of
from tools.core.errors import ToolError


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
            from skill.console import err
            from tools.core.voice import speaking
            from tools.core.workspace import using
            from tools.decide.checklist import load_checklist

            with using(workspace_of(ctx)), speaking("cli"):
                recorded, repairs = load_checklist()
            args = recorded.model_dump(exclude_none=True, mode="json")
            for note in repairs:
                err.print(f"[yellow]repaired[/] .finetune/checklist.json: {note}", highlight=False)
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
    run(ctx, "decide_fit", args, json_out=json_out)


def register(app: typer.Typer) -> None:
    app.command("decide")(decide)
