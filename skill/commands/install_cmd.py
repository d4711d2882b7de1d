"""`finetune install CLIENT`: the skill folder and MCP server entry for an IDE or agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from skill.console import JsonFlag, fail, finish
from skill.install import InstallReport, install
from tools.core.errors import ToolError


def _render(report: InstallReport, console: Console) -> None:
    verb = "uninstalled from" if report.uninstall else "installed for"
    console.print(f"fine-tuning skill {verb} [bold]{report.client}[/] ({report.scope} scope):")
    for action in report.actions:
        console.print(f"  {action.what:>9}  {action.path}" + (f"  [dim]{action.note}[/]" if action.note else ""))
    if not report.uninstall and report.client != "agents":
        console.print("Restart the client so it picks up the MCP server.")


def install_command(
    client: Annotated[str, typer.Argument(help="claude-code | cursor | vscode | agents")],
    scope: Annotated[str, typer.Option("--scope", help="project (this folder) or user (your home).")] = "project",
    uninstall: Annotated[bool, typer.Option("--uninstall", help="Remove what install added.")] = False,
    project: Annotated[Path | None, typer.Option("--project", help="Project folder (default: current).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Install the skill and the MCP server for Claude Code, Cursor, VS Code or any .agents client."""
    if scope not in ("project", "user"):
        fail(
            ToolError("bad_scope", f"unknown scope {scope!r}", "use --scope project or --scope user"), json_out=json_out
        )
    try:
        report = install(client, scope, project=project, uninstall=uninstall)  # type: ignore[arg-type]
    except ToolError as exc:
        fail(exc, json_out=json_out)
    finish(report, json_out=json_out, render=_render)


def register(app: typer.Typer) -> None:
    app.command("install")(install_command)
