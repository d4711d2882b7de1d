"""`finetune compliance`: which fine-tuning paths the constraints allow, and what to do before training."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from skill.console import JsonFlag, print_notes, run
from tools.compliance.check_compliance import ComplianceResult

_COLOUR = {"allowed": "green", "conditional": "yellow", "not_allowed": "red"}


def render_compliance(result: ComplianceResult, console: Console) -> None:
    console.print(f"[bold]regimes:[/] {', '.join(result.regimes)}")
    pii = result.pii
    if pii.scanned:
        state = (
            f"redacted copy: {pii.redacted_rescan or 'its re-scan detected nothing'}"
            if pii.redacted_no_detections
            else "NOT remediated"
            if pii.found
            else "none detected"
        )
        console.print(f"[bold]PII scan:[/] {pii.found} findings ({pii.secrets} secrets); {state}")
    else:
        console.print("[bold]PII scan:[/] [yellow]none given[/] (run `finetune pii DATA.jsonl` first)")
    for v in result.providers:
        colour = _COLOUR[v.verdict]
        console.print(f"  [{colour}]{v.verdict:>12}[/]  {v.provider}", highlight=False)
        for why in v.reasons:
            console.print(f"                 [red]x[/] {why}", highlight=False)
        for cond in v.conditions:
            console.print(f"                 [yellow]![/] {cond}", highlight=False)
    if result.actions:
        console.print("\n[bold]before training:[/]")
        for a in result.actions:
            mark = "[bold]must[/]" if a.required else "should"
            console.print(f"  {mark}: {a.title}", highlight=False)
            console.print(f"        [dim]{a.detail} ({a.source})[/]", highlight=False)
    if result.ai_act:
        console.print(f"\n[bold]EU AI Act:[/] {result.ai_act}")
    print_notes(console, result.warnings)
    console.print("\n[dim]A checklist grounded in cited sources, not legal advice.[/]")


def compliance(
    ctx: typer.Context,
    regime: Annotated[list[str] | None, typer.Option("--regime", help="gdpr, hipaa or none (repeat).")] = None,
    residency: Annotated[
        str | None, typer.Option("--residency", help="Region the data must stay in (eu, us...).")
    ] = None,
    zero_retention: Annotated[bool, typer.Option("--zero-retention", help="The provider must keep nothing.")] = False,
    on_premises: Annotated[bool, typer.Option("--on-premises", help="Data must stay on your machines.")] = False,
    pii_report: Annotated[str | None, typer.Option("--pii-report", help="JSON report of `finetune pii`.")] = None,
    personal_data: Annotated[
        bool | None,
        typer.Option("--personal-data/--no-personal-data", help="Override: does the data hold personal data?"),
    ] = None,
    provider: Annotated[list[str] | None, typer.Option("--provider", help="Only judge this provider (repeat).")] = None,
    finetune_flop: Annotated[float | None, typer.Option("--finetune-flop", help="Your fine-tuning compute.")] = None,
    base_model_flop: Annotated[float | None, typer.Option("--base-model-flop", help="Base model's compute.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Which provider paths GDPR/HIPAA, residency, retention and on-premises constraints allow; what to do first.

    Exit 1 when no path is allowed or personal data found by the scan is not yet remediated.
    """
    run(
        ctx,
        "check_compliance",
        {
            "regimes": regime or ["none"],
            "residency": residency,
            "zero_retention": zero_retention,
            "on_premises": on_premises,
            "pii_report": pii_report,
            "personal_data": personal_data,
            "providers": provider or None,
            "finetune_flop": finetune_flop,
            "base_model_flop": base_model_flop,
        },
        json_out=json_out,
        render=render_compliance,
        problems=lambda r: not r.ok,
    )


def register(app: typer.Typer) -> None:
    app.command("compliance")(compliance)
