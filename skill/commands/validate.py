"""`finetune validate PATH...`: format rules, dataset findings and token statistics."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import JsonFlag, call_tool, err, finish
from skill.progress_bar import progress_bar
from tools.validate.models import ValidateResult

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_validation(result: ValidateResult, console: Console) -> None:
    for f in result.files:
        state = "[green]ok[/]" if f.errors == 0 else f"[bold red]{f.errors} errors[/]"
        console.print(
            f"[bold]{f.path}[/]: {f.format or 'unknown format'} -> {f.target}; {f.examples} examples "
            f"in {f.lines} lines; {state}, {f.warnings} warnings"
        )
    t = result.tokens
    if t is not None:
        table = Table(title=f"tokens per example ({t.method}{', approximate' if t.approximate else ''})")
        for col in ("", "min", "median", "p95", "max"):
            table.add_column(col, justify="right" if col else "left")
        for name in ("total", "assistant", "billed"):
            d = getattr(t, name)
            table.add_row(name, str(d.min), f"{d.median:g}", f"{d.p95:g}", str(d.max))
        console.print(table)
        limit = f"; {t.over_limit} over the {t.limit:,}-token limit" if t.limit else ""
        console.print(f"billed tokens per epoch: {t.billed_sum:,}; assistant share {t.assistant_share:.1%}{limit}")
    if result.findings:
        console.print(f"\n[bold]top findings[/] ({len(result.findings)} of {result.findings_total}):")
        for f in result.findings:
            where = f"{f.file}:{f.line}" if f.line and not f.lines else f.file
            console.print(
                f"  [{_STYLE[f.severity]}]{f.severity:7}[/] {where} [dim]{f.code}[/] {f.message}",
                markup=True,
                highlight=False,
            )
    for note in result.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
    console.print(f"\nfull report: {result.report_markdown} (JSON: {result.report_json})")


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
    finish(result, json_out=json_out, render=render_validation, problems=lambda r: not r.ok)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
