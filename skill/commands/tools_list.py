"""`finetune tools` (the registry) and `finetune call` (any tool with JSON arguments)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from skill.console import JsonFlag, fail, out, run, workspace_of
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.json_input import load_json_object
from tools.core.schemas import portable_schema
from tools.core.workspace import Workspace, read_small_text


def tools_command(
    schema: Annotated[str | None, typer.Option("--schema", help="Print the portable JSON schema of one tool.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List every tool with its stage, effect (read / write / spend), duration and what it does."""
    if schema:
        try:
            spec = registry.get(schema)
        except ToolError as exc:
            fail(exc, json_out=json_out)
        typer.echo(json.dumps(portable_schema(spec.input_model), indent=2))
        return
    specs = registry.all_tools()
    if json_out:
        rows = [
            {
                "name": t.name,
                "stage": t.stage,
                "effect": t.effect,
                "duration": t.duration,
                "destructive": t.destructive,
                "needs_confirm": t.gated,
                "description": t.description,
            }
            for t in specs
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(specs)} tools")
    table.add_column("stage")
    table.add_column("tool", style="bold")
    table.add_column("effect")
    table.add_column("what it does")
    for spec in specs:
        effect = (
            spec.effect
            + (", minutes" if spec.duration == "minutes" else "")
            + (", destructive" if spec.destructive else "")
        )
        table.add_row(spec.stage, spec.name, effect, spec.summary)
    out.print(table)
    out.print("effects: " + "; ".join(f"[bold]{k}[/] {v}" for k, v in registry.EFFECTS.items()))


ARGS_HINT = 'arguments are one JSON object, e.g. --args \'{"action": "verify"}\''


def _load_args(raw: str, ws: Workspace) -> dict[str, Any]:
    """The JSON object of --args, or of --args @file.json (a small file inside the workspace)."""
    source, text = "--args", raw
    if raw.startswith("@"):
        source = raw[1:]
        text = read_small_text(ws, source, what="--args file")
    return load_json_object(
        text, source=source, hint='arguments are one JSON object, e.g. --args \'{"action": "verify"}\''
    )


def call_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tool name, as listed by `finetune tools`.")],
    args: Annotated[str, typer.Option("--args", "-a", help="JSON object, or @file.json.")] = "{}",
) -> None:
    """Call any tool with JSON arguments; prints its JSON result, or {"error": ...} and exits 2."""
    try:
        parsed = _load_args(args, workspace_of(ctx))
    except ToolError as exc:
        fail(exc, json_out=True)
    run(ctx, name, parsed, json_out=True, render=lambda *_: None)


def register(app: typer.Typer) -> None:
    app.command("tools")(tools_command)
    app.command("call")(call_command)
