"""`finetune skill build`: the distributable skill folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from skill.console import JsonFlag, fail, out
from skill.package import SKILL_NAME, build_skill
from tools.core.errors import ToolError

skill_app = typer.Typer(help="Build the agent-skill folder (SKILL.md, reference/, scripts/).", no_args_is_help=True)


@skill_app.command("build")
def build(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write fine-tuning/ into.")] = Path("dist"),
    json_out: JsonFlag = False,
) -> None:
    """Write a self-contained fine-tuning/ skill folder that agentskills validate accepts."""
    try:
        target = build_skill(out_dir)
    except ToolError as exc:
        fail(exc, json_out=json_out)
    except OSError as exc:
        fail(
            ToolError(
                "skill_build_failed",
                f"cannot write {out_dir / SKILL_NAME}: {exc.strerror}",
                "choose a writable --out folder",
            ),
            json_out=json_out,
        )
    files = sorted(p for p in target.rglob("*") if p.is_file())
    if json_out:
        typer.echo(json.dumps({"path": str(target), "files": len(files)}))
    else:
        out.print(f"built [bold]{target}[/] ({len(files)} files); check it with `agentskills validate {target}`")


def register(app: typer.Typer) -> None:
    app.add_typer(skill_app, name="skill")
