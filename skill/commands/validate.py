"""`finetune validate PATH...`: format rules, dataset findings and token statistics."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, call_tool, err, finish, render_result
from skill.progress_bar import progress_bar


def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(help="JSONL files; give train, val and test together to check leakage.")
    ],
    format: Annotated[str | None, typer.Option("--format", help="Force a format instead of detecting it.")] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="openai, together, mistral, bedrock-nova, bedrock-haiku, vertex-gemini, trl."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The model to train: decides the rules (an open-weight id or folder means TRL), tokenizer, limits.",
        ),
    ] = None,
    no_near: Annotated[
        bool, typer.Option("--no-near-duplicates", help="Skip the near-duplicate search (the slowest dataset check).")
    ] = False,
    report: Annotated[str | None, typer.Option("--report", help="Where to write the JSON report.")] = None,
    top: Annotated[int, typer.Option("--top", help="Findings to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Check training files: format rules with line numbers, duplicates, leakage, content, token statistics."""
    args = {
        "paths": paths,
        "format": format,
        "target": target,
        "model": model,
        "near_duplicates": not no_near,
        "report": report,
        "max_findings": top,
    }
    with progress_bar(err, "validating"):  # the bar is gone before the result is printed
        result = call_tool(ctx, "validate_jsonl", args, json_out=json_out)
    finish(result, json_out=json_out, render=render_result, problems=lambda r: not r.ok)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
