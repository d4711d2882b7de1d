"""`finetune diagnose PATH`: read a training log, find what is wrong, say what to change."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from skill.console import JsonFlag, run
from tools.diagnose.models import DiagnoseLossResult

_STYLE = {"severe": "bold red", "warning": "yellow", "info": "cyan"}


def _render(r: DiagnoseLossResult, console: Console) -> None:
    style = {"healthy": "green", "too_short": "yellow", "problems": "bold red"}[r.verdict]
    console.print(
        f"[{style}]{r.verdict}[/]: {r.path} ({r.format}, steps {r.first_step:g}-{r.last_step:g})"
        if r.first_step is not None and r.last_step is not None
        else f"[{style}]{r.verdict}[/]: {r.path}"
    )
    if r.best_checkpoint:
        b = r.best_checkpoint
        saved = f"; early stopping would have saved {b.steps_saved:g} steps" if b.steps_saved else ""
        value = f"{b.metric} {b.value:.4g}" if b.value is not None else b.metric
        last = " (the last evaluation)" if b.is_last_eval else ""
        console.print(
            f"best checkpoint: step {b.step:g}, {value}{last}, chosen by {b.chosen_by}{saved}", highlight=False
        )
    if r.model_kind:
        console.print(f"[dim]model: {r.model_kind} ({r.model_kind_source})[/]", highlight=False)
    for f in r.findings:
        console.print(f"\n[{_STYLE[f.severity]}]{f.severity}[/] [bold]{f.title}[/]: {f.summary}", highlight=False)
        for c in f.changes:
            console.print(f"  - {c}", highlight=False)
        for c in f.not_advised[:3]:
            console.print(f"  [dim]not advised: {c}[/]", highlight=False)
    if r.findings_total > len(r.findings):
        console.print(f"\n({r.findings_total - len(r.findings)} more findings in the report)")
    for n in r.notes[:4]:
        console.print(f"[dim]note: {n}[/]", highlight=False)
    console.print(f"\nreport: {r.report_md}" + (f"  plot: {r.plot}" if r.plot else ""))


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
        render=_render,
        problems=lambda r: r.verdict == "problems",
    )


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)
