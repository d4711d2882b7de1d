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
    real_model: Annotated[
        bool,
        typer.Option(
            "--real-model",
            help="Instead: LoRA teaches the packaged Gemma 3 270M the house style and run_eval measures it (about "
            "10 minutes; needs the real-model extra; `make demo-real`).",
        ),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Run the sample project (examples/) through the tools and write finetune-demo/report.md."""
    progress = lambda name: err.print(f"[dim]demo:[/] {name}")  # noqa: E731
    try:
        if real_model:
            from skill.demo_real import run_real_demo

            real = run_real_demo(out_dir if out_dir != Path("finetune-demo") else Path("finetune-demo-real"), progress)
            if json_out:
                typer.echo(real.model_dump_json(indent=2))
                return
            for section in real.sections:
                out.print(f"{section.status:>14}  {section.title}: {section.headline}", highlight=False)
            out.print(f"\nreport: [bold]{real.report}[/]")
            return
        result = run_demo(out_dir, progress=progress)
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
