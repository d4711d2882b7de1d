"""`finetune convert` (alias `finetune prepare`): rows or another chat format -> training JSONL."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import EXIT_BAD_INPUT, JsonFlag, err, run


def _parse_pairs(text: str | None, option: str, left: str, right: str) -> list[dict[str, str]] | None:
    if not text:
        return None
    pairs = []
    for part in text.split(","):
        if "=" not in part:
            err.print(f"[red]error[/]: {option} expects {left}={right} pairs, got {part!r}")
            raise typer.Exit(EXIT_BAD_INPUT)
        key, value = part.split("=", 1)
        pairs.append({left: key.strip(), right: value.strip()})
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
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV separator (one character or 'tab'); default: sniffed.")
    ] = None,
    roles: Annotated[
        str | None, typer.Option("--roles", help="Role names to chat roles: customer=user,agent=assistant")
    ] = None,
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
            "mapping": _parse_pairs(map_, "--map", "field", "column"),
            "roles": _parse_pairs(roles, "--roles", "name", "role"),
            "delimiter": delimiter,
            "mapping_file": map_file,
            "system": system,
            "input_type": input_type,
            "from_format": from_format,
            "target": target,
            "validate_output": not no_validate,
        },
        json_out=json_out,
        problems=lambda r: r.validation_ok is False or r.written == 0,
    )


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
    app.command("prepare", help="Alias of convert.")(convert)
