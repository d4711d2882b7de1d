"""`finetune mcp`: serve every tool, the checklist prompts and the reference files over stdio."""

from __future__ import annotations

import typer

from skill.console import workspace_of


def mcp(ctx: typer.Context) -> None:
    """Run the MCP server on stdin/stdout (for Claude Code, Cursor, VS Code and agent frameworks)."""
    try:
        from skill.mcp_server import main
    except ModuleNotFoundError as exc:
        typer.echo(
            f"error: the MCP server needs the 'mcp' package ({exc.name} is missing).\n"
            "  fix: pip install 'finetune-skill[mcp]'",
            err=True,
        )
        raise typer.Exit(2) from None
    main(workspace_of(ctx))


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
