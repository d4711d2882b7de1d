"""`finetune diagnose PATH`: read a training log, find what is wrong, say what to change."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, run


def diagnose(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Log file or run/output/checkpoint folder.")],
    plot: Annotated[str | None, typer.Option("--plot", help="Write a PNG plot here (needs matplotlib).")] = None,
    report: Annotated[str | None, typer.Option("--report", help="Markdown report path (JSON beside it).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Diagnose a training log: overfitting, divergence, spikes, plateau, collapse... and what to change."""
    run(
        ctx,
        "diagnose_loss",
        {"path": path, "plot": plot, "report": report},
        json_out=json_out,
        problems=lambda r: r.verdict == "problems",
    )


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)
