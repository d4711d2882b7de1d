"""`finetune convert` (alias `finetune prepare`): rows or another chat format -> training JSONL."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from skill.console import EXIT_BAD_INPUT, JsonFlag, err, run
from tools.prepare.prepare_data import PrepareResult


def render_prepare(result: PrepareResult, console: Console) -> None:
    console.print(f"wrote [bold]{result.out}[/]: {result.written} of {result.rows} rows as {result.to}")
    if result.skipped_total:
        console.print(
            f"[yellow]skipped {result.skipped_total} rows[/]: "
            + "; ".join(f"row {s.row}: {s.reason}" for s in result.skipped[:5])
        )
    if result.dropped:
        console.print("[yellow]not kept by the output format[/]:")
        for d in result.dropped:
            console.print(f"  {d.what}: {d.examples} examples (first at row {d.first_row})")
    else:
        console.print("[green]lossless[/]: everything in the input fits the output format")
    if result.validation_ok is not None:
        state = "[green]valid[/]" if result.validation_ok else f"[red]{result.validation_errors} errors[/]"
        console.print(f"validation of the output: {state} (report: {result.validation_report})")


def _parse_map(text: str | None) -> list[dict[str, str]] | None:
    if not text:
        return None
    pairs = []
    for part in text.split(","):
        if "=" not in part:
            err.print(f"[red]error[/]: --map expects field=column pairs, got {part!r}")
            raise typer.Exit(EXIT_BAD_INPUT)
        field, column = part.split("=", 1)
        pairs.append({"field": field.strip(), "column": column.strip()})
    return pairs


def convert(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="CSV, TSV, JSON, JSONL or Parquet file.")],
    out: Annotated[str, typer.Option("--out", "-o", help="JSONL file to write.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Output format (openai_chat, bedrock_nova, bedrock_haiku, "
            "vertex_gemini, prompt_completion, text, preference, alpaca, "
            "sharegpt, openai_preference).",
        ),
    ] = "openai_chat",
    map_: Annotated[
        str | None, typer.Option("--map", help="Column mapping: prompt=question,completion=answer,system=sys")
    ] = None,
    map_file: Annotated[str | None, typer.Option("--map-file", help="YAML/JSON file {field: column}.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt for examples without one.")] = None,
    input_type: Annotated[str | None, typer.Option("--input-type", help="csv, tsv, json, jsonl, parquet.")] = None,
    from_format: Annotated[
        str | None, typer.Option("--from", help="Input rows' chat format (default: detect).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target whose rules validate the output.")] = None,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip validating the output.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Convert rows or another provider's format into training JSONL; list what was dropped."""
    run(
        ctx,
        "prepare_data",
        {
            "path": path,
            "out": out,
            "to": to,
            "mapping": _parse_map(map_),
            "mapping_file": map_file,
            "system": system,
            "input_type": input_type,
            "from_format": from_format,
            "target": target,
            "validate_output": not no_validate,
        },
        json_out=json_out,
        render=render_prepare,
        problems=lambda r: r.validation_ok is False,
    )


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
    app.command("prepare", help="Alias of convert.")(convert)
