"""What every CLI command shares: calling a tool, printing its result, mapping errors to exit codes.

Human output goes to stdout through rich; with ``--json`` stdout carries only JSON and every
diagnostic goes to stderr. A :class:`ToolError` never shows a traceback: it prints its code,
message and hint and exits with its category's code (see tools/core/error_codes.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from tools.core import registry
from tools.core.error_codes import exit_code
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_FAILED = 3

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

Result = TypeVar("Result", bound=BaseModel)


@dataclass
class CliState:
    workspace: Path | None = None


def workspace_of(ctx: typer.Context) -> Workspace:
    state = ctx.find_root().obj
    root = state.workspace if isinstance(state, CliState) else None
    try:
        return Workspace(root)
    except ToolError as exc:
        fail(exc, json_out=False)


def print_notes(console: Console, warnings: Sequence[str] = (), findings: Sequence[str] = ()) -> None:
    """The findings ("check") and warnings a tool attached to its result, one line each."""
    for line in findings:
        console.print(f"[yellow]check[/]: {line}", highlight=False)
    for line in warnings:
        console.print(f"[yellow]warning[/]: {line}", highlight=False)


def fail(exc: ToolError, *, json_out: bool) -> NoReturn:
    """Print the error (JSON on stdout with --json, always a line on stderr) and exit with its category's code."""
    report_error(exc, json_out=json_out)
    raise typer.Exit(exit_code(exc.code))


def report_error(exc: ToolError, *, json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps({"error": exc.info().model_dump()}, ensure_ascii=False))
    err.print(f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"  [bold]fix:[/] {escape(exc.hint)}", markup=True, highlight=False)
    if os.environ.get("FINETUNE_DEBUG") and exc.__cause__ is not None:
        err.print_exception()


def call_tool(ctx: typer.Context, name: str, args: Mapping[str, Any] | BaseModel, *, json_out: bool) -> BaseModel:
    """Run a registered tool for the CLI; a ToolError ends the command with exit code 2."""
    try:
        return registry.call(name, args, workspace=workspace_of(ctx), actor="cli")
    except ToolError as exc:
        fail(exc, json_out=json_out)


def finish(
    result: Result,
    *,
    json_out: bool,
    render: Callable[[Result, Console], None],
    problems: Callable[[Result], bool] = lambda _: False,
) -> NoReturn:
    """Print ``result`` (JSON or human) and exit 1 when ``problems(result)`` says the check failed."""
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render(result, out)
    raise typer.Exit(EXIT_PROBLEMS if problems(result) else EXIT_OK)


def run(
    ctx: typer.Context,
    name: str,
    args: Mapping[str, Any] | BaseModel,
    *,
    json_out: bool,
    render: Callable[[Any, Console], None],
    problems: Callable[[Any], bool] = lambda _: False,
) -> NoReturn:
    """call_tool + finish: the whole body of most subcommands."""
    result = call_tool(ctx, name, args, json_out=json_out)
    finish(result, json_out=json_out, render=render, problems=problems)
