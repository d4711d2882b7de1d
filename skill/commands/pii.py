"""`finetune pii PATH [--redact OUT --mode mask|tag|pseudonym|hash]`: personal data and secrets in a dataset."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, call_tool, err, finish, render_result
from skill.progress_bar import progress_bar


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
    finish(result, json_out=json_out, render=render_result, problems=lambda r: not r.ok)


def register(app: typer.Typer) -> None:
    app.command("pii")(pii)
