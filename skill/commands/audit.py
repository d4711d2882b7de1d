"""`finetune audit verify|show|export|report`: the tamper-evident audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, run

audit_app = typer.Typer(
    help="Read, verify and anchor the tamper-evident audit log (.finetune/audit.jsonl).", no_args_is_help=True
)


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None, typer.Option("--anchor", help="An anchor from `audit export`; the log must still hold it.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Check chain, signatures, head and workspace; exit 1 and name the first bad line if anything was changed."""
    run(ctx, "audit_log", {"action": "verify", "anchor": anchor}, json_out=json_out, problems=lambda r: not r.ok)


@audit_app.command("show")
def show(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many of the latest records.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """List the latest tool calls recorded in the audit log."""
    run(ctx, "audit_log", {"action": "show", "limit": limit}, json_out=json_out, problems=lambda r: not r.ok)


@audit_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[str | None, typer.Option("--out", help="Write the anchor to this file.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Export the signed head as an anchor to keep outside the workspace."""
    run(ctx, "audit_log", {"action": "export", "out": out}, json_out=json_out)


@audit_app.command("report")
def report(
    ctx: typer.Context,
    out: Annotated[str | None, typer.Option("--out", help="Where to write the markdown report.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Latest calls to list in full.")] = 200,
    json_out: JsonFlag = False,
) -> None:
    """Write the audit trail as a markdown report for an auditor; exit 1 if the chain is broken."""
    run(ctx, "audit_report", {"out": out, "max_calls": limit}, json_out=json_out, problems=lambda r: not r.chain_ok)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
