"""`finetune pii PATH [--redact OUT --mode mask|tag|pseudonym|hash]`: personal data and secrets in a dataset."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import JsonFlag, call_tool, err, finish
from skill.progress_bar import progress_bar
from tools.pii.models import ScanPiiResult


def render_scan(result: ScanPiiResult, console: Console) -> None:
    for warning in result.warnings:
        style = "bold red" if warning.startswith("NO NAME DETECTION") else "yellow"
        console.print(f"[{style}]warning[/]: {warning}", markup=True, highlight=False)
    console.print(
        f"[bold]{result.path}[/]: {result.format or 'unknown format'}, {result.lines} lines, "
        f"{result.texts_scanned} texts ({result.unique_texts} distinct); model {result.nlp_model}; "
        f"{result.seconds:.1f} s"
    )
    if not result.found_total:
        console.print(
            f"no detections by {result.detector} (detection is statistical: this lowers the risk, it does not "
            "prove absence)",
            highlight=False,
        )
    else:
        table = Table(title=f"{result.found_total} findings in {result.lines_with_findings} lines")
        for col in ("entity", "kind", "found", "lines", "by role"):
            table.add_column(col, justify="right" if col in ("found", "lines") else "left")
        for e in result.entities:
            style = "bold red" if e.kind == "secret" else ""
            table.add_row(
                f"[{style}]{e.entity}[/]" if style else e.entity,
                e.kind,
                str(e.count),
                str(e.lines),
                ", ".join(f"{r.role} {r.count}" for r in e.by_role),
            )
        console.print(table)
        for f in result.findings:
            console.print(
                f"  line {f.line:>6} {f.role:<10} {f.entity:<18} {f.score:.2f}  {f.sample}",
                markup=False,
                highlight=False,
            )
    for t in result.template_findings:
        console.print(
            f"[dim]not counted: {t.entity} {t.sample} in a system prompt shared by {t.lines} lines "
            "(brand/product name?)[/]",
            highlight=False,
        )
    for p in result.line_problems:
        console.print(f"[yellow]line {p.line}[/] ({p.kind}): {p.message}", highlight=False)
    if result.line_problems_total > len(result.line_problems):
        console.print(f"... {result.line_problems_total - len(result.line_problems)} more line problems in the report")
    if result.redaction:
        render_redaction(result, console)
    console.print(f"full report: {result.report_markdown} (JSON: {result.report_json})")


def render_redaction(result: ScanPiiResult, console: Console) -> None:
    r = result.redaction
    assert r is not None
    console.print(
        f"redacted copy: [bold]{r.path}[/] (mode {r.mode}): {r.known_values} known values searched for everywhere; "
        f"{r.replaced} replacements in {r.lines_changed} lines ({r.second_look_lines} lines only by the second look)",
        highlight=False,
    )
    for s in r.review:
        by = "second look" if s.second_look else "scan"
        console.print(
            f"  line {s.line:>6} {s.where} [{s.start}:{s.end}] {s.entity} ({by}): {s.text!r}",
            markup=False,
            highlight=False,
        )
    style = "bold red" if r.rescan_found or r.rescan_unchecked or r.left_out_total else "bold"
    console.print(f"[{style}]re-scan[/]: {r.statement}", highlight=False)


def pii(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Dataset (JSONL, any supported format).")],
    redact: Annotated[str | None, typer.Option("--redact", help="Write a redacted copy to this file.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="mask, tag, pseudonym or hash.")] = "tag",
    entities: Annotated[list[str] | None, typer.Option("--entity", help="Entity type to look for (repeat).")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="One score threshold for all.")] = None,
    language: Annotated[str, typer.Option("--language", help="Language of the texts.")] = "en",
    model: Annotated[str | None, typer.Option("--model", help="spaCy model package, or 'blank'.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a format instead of detecting it.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for pseudonyms and hashes.")] = 0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes to scan with (default: every core for large files).")
    ] = None,
    report: Annotated[str | None, typer.Option("--report", help="Where to write the JSON report.")] = None,
    top: Annotated[int, typer.Option("--top", help="Findings to show.")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Find personal data and secrets in every message (Presidio); optionally write a redacted copy.

    Exit 1 when something was detected (or a line could not be fully scanned) and no redacted copy whose
    re-scan detects nothing was written.
    """
    args = {
        "path": path,
        "redact": redact,
        "mode": mode,
        "entities": entities or None,
        "threshold": threshold,
        "language": language,
        "model": model,
        "format": fmt,
        "seed": seed,
        "workers": workers,
        "report": report,
        "max_findings": top,
    }
    with progress_bar(err, "scanning for PII"):  # the bar is gone before the result is printed
        result = call_tool(ctx, "scan_pii", args, json_out=json_out)
    finish(result, json_out=json_out, render=render_scan, problems=lambda r: not r.ok)


def register(app: typer.Typer) -> None:
    app.command("pii")(pii)
