"""`finetune demo`: the sample project through every tool that applies, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skill.console import JsonFlag, err, fail, out
from skill.demo import run_demo
from tools.core.errors import ToolError


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo workspace and report.md.")] = Path(
        "finetune-demo"
    ),
    json_out: JsonFlag = False,
) -> None:
    """Run the sample project (examples/) through the tools and write finetune-demo/report.md."""
    try:
        result = run_demo(out_dir, progress=lambda name: err.print(f"[dim]demo:[/] {name}"))
    except ToolError as exc:
        fail(exc, json_out=json_out)
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
        return
    for section in result.sections:
        colour = {"ok": "green", "found problems": "yellow", "skipped": "dim", "failed": "red"}[section.status]
        out.print(f"[{colour}]{section.status:>14}[/]  {section.title}: {section.headline}")
    out.print(f"\nreport: [bold]{result.report}[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
