"""The ``finetune`` command: a typer app whose subcommands live in :mod:`skill.commands`.

Each module in ``skill/commands/`` has a ``register(app)`` function; they are found at start-up,
so adding a command never means editing this file. Exit codes: 0 ok, 1 the check found
problems, 2 bad input or a missing setup, 3 a provider or an internal failure (tools/core/error_codes.py).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from skill import commands
from skill.console import CliState, report_error
from tools import __version__
from tools.core.error_codes import exit_code
from tools.core.errors import ToolError

app = typer.Typer(
    name="finetune",
    help="Decide whether to fine-tune an LLM, then do it well: data, PII, cost, LoRA, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"finetune-skill {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="FINETUNE_WORKSPACE",
            help="Folder that every path must stay inside (default: the current folder).",
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(workspace=workspace)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    except ToolError as exc:
        report_error(exc, json_out="--json" in sys.argv)
        raise SystemExit(exit_code(exc.code)) from None


if __name__ == "__main__":
    main()
