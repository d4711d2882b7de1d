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
from rich.table import Table

from tools.core import registry
from tools.core.document import Block, Bullets, Document, Findings, Image, Pairs, Text, cell
from tools.core.document import Table as DocTable
from tools.core.error_codes import exit_code
from tools.core.errors import ToolError
from tools.core.voice import speaking
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


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_STATUS_STYLE = {"ok": "green", "problems": "yellow", "failed": "bold red", "skipped": "dim", "declined": "yellow"}


def _show_table(block: DocTable, console: Console) -> None:
    table = Table(title=block.title)
    for i, header in enumerate(block.headers):
        numeric = any(isinstance(row[i], (int, float)) for row in block.rows if i < len(row))
        table.add_column(header, justify="right" if numeric else "left")
    for row in block.rows:
        table.add_row(*(escape(cell(v)) for v in row))
    console.print(table)


def _show_findings(block: Findings, console: Console) -> None:
    for f in block.items:
        where = f" {escape(f.where)}" if f.where else ""
        code = f" [dim]{escape(f.code)}[/]" if f.code else ""
        console.print(f"  [{_SEVERITY_STYLE[f.severity]}]{f.severity:7}[/]{where}{code} {escape(f.message)}")
    if block.total is not None and block.total > len(block.items):
        console.print(f"  ... {block.total - len(block.items)} more in the full report")


def _show_block(block: Block, console: Console) -> None:
    if isinstance(block, DocTable):
        _show_table(block, console)
        return
    title = getattr(block, "title", None)
    if title:
        console.print(f"[bold]{escape(title)}[/]")
    if isinstance(block, Text):
        console.print(escape(block.text))
    elif isinstance(block, Pairs):
        for key, value in block.items:
            console.print(f"  {escape(key)}: {escape(cell(value))}")
    elif isinstance(block, Findings):
        _show_findings(block, console)
    elif isinstance(block, Bullets):
        for item in block.items:
            console.print(f"  - {escape(item)}")
    elif isinstance(block, Image):
        console.print(f"  {escape(block.alt)}: {escape(block.path)}")


def show_document(doc: Document, console: Console) -> None:
    """A result's document in the terminal (the markdown reports render the same document)."""
    style = _STATUS_STYLE.get(doc.status, "")
    console.print(f"[bold]{escape(doc.title)}[/]: [{style}]{escape(doc.headline)}[/]")
    for block in doc.blocks:
        _show_block(block, console)
    for path in doc.files:
        console.print(f"[dim]file:[/] {escape(path)}")


def render_result(result: BaseModel, console: Console) -> None:
    """The default renderer: the result's own document."""
    document = getattr(result, "document", None)
    if document is None:
        raise TypeError(f"{type(result).__name__} has no document(); give the command a renderer")
    show_document(document(), console)


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
    """Run a registered tool for the CLI, its messages in the CLI's voice (``--confirm``, ``finetune ...``
    commands); a ToolError ends the command with its category's exit code."""
    try:
        with speaking("cli"):
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
    render: Callable[[Any, Console], None] = render_result,
    problems: Callable[[Any], bool] = lambda _: False,
) -> NoReturn:
    """call_tool + finish: the whole body of most subcommands (rendered by the result's document by default)."""
    result = call_tool(ctx, name, args, json_out=json_out)
    finish(result, json_out=json_out, render=render, problems=problems)
