"""`finetune facts check|render|refresh`: the dated facts in reference/data and the tables made from them."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from skill.console import EXIT_OK, EXIT_PROBLEMS, JsonFlag, fail, out, run, workspace_of
from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir, reference_dir
from tools.core.workspace import write_text_atomic
from tools.facts import tables as fact_tables

facts_app = typer.Typer(help="Check, render and refresh the dated facts in reference/data.", no_args_is_help=True)


@facts_app.command("check")
def check_command(
    ctx: typer.Context,
    today: Annotated[str | None, typer.Option("--today", help="Check as of this date (YYYY-MM-DD).")] = None,
    max_age_days: Annotated[
        int | None, typer.Option("--max-age-days", help="Override every row's review age (days).")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option("--horizon-days", help="List offerings ending within (90).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List facts past their review age and offerings that closed, close soon or have an unknown end; exit 1 when a
    fact is stale, a file invalid or a negative fact violated."""
    args = {"today": today, "max_age_days": max_age_days, "horizon_days": horizon_days}
    run(ctx, "facts_check", args, json_out=json_out, problems=lambda r: not r.ok)


@facts_app.command("render")
def render_command(
    check: Annotated[bool, typer.Option("--check", help="Change nothing; exit 1 if a table is out of date.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Regenerate the tables between `<!-- facts:begin NAME -->` markers in reference/*.md from the YAML."""
    results = []
    drift = False
    try:
        for path in sorted(reference_dir().glob("*.md")):
            text, rendered = fact_tables.render_file(path)
            changed = text != rendered
            drift |= changed
            if changed and not check:
                write_text_atomic(path, rendered)
            results.append({"file": path.name, "tables": fact_tables.tables_in(text), "changed": changed})
    except ToolError as exc:
        fail(exc, json_out=json_out)
    if json_out:
        typer.echo(json.dumps({"files": results, "drift": drift, "written": drift and not check}, indent=2))
    else:
        for r in results:
            state = ("[red]out of date[/]" if check else "[yellow]updated[/]") if r["changed"] else "[green]current[/]"
            out.print(f"{r['file']}: {len(r['tables'])} tables, {state}")
    raise typer.Exit(EXIT_PROBLEMS if (check and drift) else EXIT_OK)


def _print_refresh(result, summary: dict) -> None:  # type: ignore[no-untyped-def]
    out.print(
        f"{len(result.changes)} changes proposed from {result.source}; diff written to {summary['diff']}"
        + (" and applied to pricing.yaml" if summary["applied"] else " (review it, then rerun with --apply)")
    )
    for c in result.changes:
        out.print(f"  {c.row}: {c.field} {c.old} -> {c.new}")
    for line in result.blocked:
        out.print(f"  [yellow]refused[/]: {line}")
    for line in result.kept_primary:
        out.print(f"  [yellow]kept[/]: {line}")
    for line in result.missing_keys:
        out.print(f"  [yellow]not in LiteLLM[/]: {line}")
    for line in result.serving_mismatches:
        out.print(f"  [yellow]check[/]: {line}")
    if result.unlisted_ft_keys:
        out.print(
            f"  LiteLLM prices {len(result.unlisted_ft_keys)} fine-tuned models pricing.yaml does not list: "
            + ", ".join(result.unlisted_ft_keys[:8])
        )


@facts_app.command("refresh")
def refresh_command(
    ctx: typer.Context,
    litellm: Annotated[
        str | None,
        typer.Option(
            "--litellm",
            help="A copy of LiteLLM's price map to read instead of the installed litellm package's (a file path).",
        ),
    ] = None,
    out_path: Annotated[str, typer.Option("--out", help="Where to write the diff for review.")] = "facts-refresh.diff",
    apply: Annotated[bool, typer.Option("--apply", help="Also write the updated reference/data/pricing.yaml.")] = False,
    today: Annotated[str | None, typer.Option("--today", help="`checked` date for changed rows (YYYY-MM-DD).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Propose per-token inference prices and serving end dates from LiteLLM's price map, as a diff to review.

    The map is read from the installed litellm package (pip install 'finetune-skill[facts]'). Training, hosting and
    storage fees are never touched (LiteLLM has none); rows citing a provider's own page are kept, and changes that
    reference/data/negative_facts.yaml forbids are refused.
    """
    from tools import knowledge
    from tools.facts.refresh import installed_price_map, load_litellm, refresh_pricing, source_url

    ws = workspace_of(ctx)
    try:
        on = date.fromisoformat(today) if today else knowledge.today()
    except ValueError:
        fail(ToolError("bad_today", f"--today {today!r} is not a date", "use YYYY-MM-DD"), json_out=json_out)
    try:
        if litellm:
            path, source = ws.input_file(litellm, what="LiteLLM price map"), "https://pypi.org/project/litellm/"
        else:
            path, version = installed_price_map()
            source = source_url(version)
        pricing_path = reference_data_dir() / "pricing.yaml"
        result = refresh_pricing(
            load_litellm(path),
            pricing_path,
            on,
            source=source,
            providers_path=reference_data_dir() / "providers.yaml",
            negative=knowledge.negative_facts(),
        )
        diff_path = ws.output_file(out_path, what="diff file")
        write_text_atomic(diff_path, result.diff or "# no changes\n")
        if apply and result.changes:
            write_text_atomic(pricing_path, result.new_text)
    except ToolError as exc:
        fail(exc, json_out=json_out)
    summary = {
        "source": result.source,
        "changes": [
            {"row": c.row, "field": c.field, "old": str(c.old) if c.old is not None else None, "new": str(c.new)}
            for c in result.changes
        ],
        "diff": ws.relative(diff_path),
        "applied": bool(apply and result.changes),
        "refused": result.blocked,
        "kept_primary": result.kept_primary,
        "missing_keys": result.missing_keys,
        "unlisted_ft_keys": result.unlisted_ft_keys[:30],
        "serving_mismatches": result.serving_mismatches,
        "untouched": "training, hosting, storage and discount rows (LiteLLM carries no such fees)",
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_refresh(result, summary)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.add_typer(facts_app, name="facts")
