"""`finetune compliance`: which fine-tuning paths the constraints allow, and what to do before training."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, run


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
        problems=lambda r: not r.ok,
    )


def register(app: typer.Typer) -> None:
    app.command("compliance")(compliance)
