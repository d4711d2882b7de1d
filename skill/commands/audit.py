"""`finetune audit verify|show|report`: the tamper-evident audit trail."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skill.console import JsonFlag, run
from tools.audit.audit_log import AuditLogReport
from tools.audit.audit_report import AuditReportResult

audit_app = typer.Typer(
    help="Read and verify the tamper-evident audit log (.finetune/audit.jsonl).", no_args_is_help=True
)


def _render_verify(report: AuditLogReport, console: Console) -> None:
    if report.ok:
        calls = max(report.records - 1, 0) if report.workspace_id else report.records
        checked = "chain and signatures intact" if report.signed else "chain intact (signatures not checked)"
        noun = "call" if calls == 1 else "calls"
        console.print(f"[green]ok[/]: {report.path} holds {report.records} records ({calls} {noun}); the {checked}.")
        if report.interrupted:
            console.print("[yellow]interrupted[/]: a crash interrupted the last write; the next call completes it")
        for line in report.warnings:
            console.print(f"[yellow]warning[/]: {escape(line)}")
    else:
        console.print(f"[bold red]TAMPERED[/]: {report.path} line {report.first_bad_line}: {report.problem}")
        console.print(f"{report.records} records before it verify.")


def _render_show(report: AuditLogReport, console: Console) -> None:
    table = Table(title=f"{report.path}: latest {len(report.latest)} of {report.records} records")
    for column in ("seq", "time", "tool", "actor", "outcome", "files"):
        table.add_column(column)
    for rec in report.latest:
        files = ", ".join(f"{f.path} ({(f.sha256 or '-')[:12]})" for f in rec.files) or "-"
        outcome = rec.outcome if rec.outcome == "ok" else f"[red]{rec.error_code}[/]"
        table.add_row(str(rec.seq), rec.time, rec.tool, rec.actor, outcome, files)
    console.print(table)
    _render_verify(report, console)


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None, typer.Option("--anchor", help="An anchor from `audit export`; the log must still hold it.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Check chain, signatures, head and workspace; exit 1 and name the first bad line if anything was changed."""
    run(
        ctx,
        "audit_log",
        {"action": "verify", "anchor": anchor},
        json_out=json_out,
        render=_render_verify,
        problems=lambda r: not r.ok,
    )


def _render_export(report: AuditLogReport, console: Console) -> None:
    anchor = report.anchor
    assert anchor is not None
    where = f" to {report.anchor_path}" if report.anchor_path else ""
    console.print(f"anchor{where}: record {anchor.seq}, hash {anchor.hash}, workspace {anchor.workspace_id}")
    console.print(
        "keep it somewhere this workspace cannot change (a ticket, a commit, an e-mail); "
        "`finetune audit verify --anchor FILE` proves the log still holds it"
    )


@audit_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[str | None, typer.Option("--out", help="Write the anchor to this file.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Export the signed head as an anchor to keep outside the workspace."""
    run(ctx, "audit_log", {"action": "export", "out": out}, json_out=json_out, render=_render_export)


@audit_app.command("show")
def show(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many of the latest records.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """List the latest tool calls recorded in the audit log."""
    run(
        ctx,
        "audit_log",
        {"action": "show", "limit": limit},
        json_out=json_out,
        render=_render_show,
        problems=lambda r: not r.ok,
    )


def _render_report(result: AuditReportResult, console: Console) -> None:
    if result.chain_ok:
        console.print(f"[green]chain ok[/]: {result.records} records")
    else:
        console.print(f"[bold red]TAMPERED[/]: line {result.first_bad_line}: {result.problem}")
    console.print(
        f"{result.datasets} input files by SHA-256, {result.pii_scans} PII scans, {result.errors} failed calls"
    )
    console.print(f"report: [bold]{result.path}[/]")


@audit_app.command("report")
def report(
    ctx: typer.Context,
    out: Annotated[str | None, typer.Option("--out", help="Where to write the markdown report.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Latest calls to list in full.")] = 200,
    json_out: JsonFlag = False,
) -> None:
    """Write the audit trail as a markdown report for an auditor; exit 1 if the chain is broken."""
    run(
        ctx,
        "audit_report",
        {"out": out, "max_calls": limit},
        json_out=json_out,
        render=_render_report,
        problems=lambda r: not r.chain_ok,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
