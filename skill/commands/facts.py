"""`finetune facts check|render|refresh`: the dated facts in reference/data and the tables made from them."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import EXIT_OK, EXIT_PROBLEMS, JsonFlag, fail, out, run, workspace_of
from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir, reference_dir
from tools.core.workspace import write_text_atomic
from tools.facts import tables as fact_tables
from tools.facts.facts_check import FactsCheckReport

facts_app = typer.Typer(help="Check, render and refresh the dated facts in reference/data.", no_args_is_help=True)


def _render_check(report: FactsCheckReport, console: Console) -> None:
    console.print(
        f"[bold]facts check[/] on {report.today}: {report.rows_checked} rows in {len(report.files)} files "
        f"(age limit {report.max_age_days} days, horizon {report.horizon_days} days; "
        f"{report.secondary_rows} rows from secondary sources)"
    )
    for line in report.headline:
        console.print(f"  - {line}")
    if report.closing:
        table = Table(title="closing soon (providers.yaml; prices that end with them are in --json)")
        for column in ("date", "in days", "what", "file"):
            table.add_column(column)
        for w in (w for w in report.closing if w.file == "providers.yaml"):
            table.add_row(
                str(w.date), str(w.days), w.row + (" (inference)" if w.kind == "serving_closing" else ""), w.file or "-"
            )
        console.print(table)
    if report.ended:
        table = Table(title="ended (providers.yaml)")
        for column in ("date", "what", "file"):
            table.add_column(column)
        for w in (w for w in report.ended if w.file == "providers.yaml"):
            table.add_row(str(w.date), w.row + (" (inference)" if w.kind == "serving_ended" else ""), w.file or "-")
        console.print(table)
    for line in report.deprecated:
        console.print(f"[yellow]deprecated[/]: {line}")
    if report.stale:
        console.print(f"[yellow]{report.stale_total} stale facts[/] (oldest first, {len(report.stale)} shown):")
        for w in report.stale[:15]:
            console.print(f"  {w.date}  {w.file}: {w.row}  [dim]{w.source}[/]")
    for problem in report.invalid:
        console.print(f"[bold red]invalid[/]: {problem}")
    if report.ok:
        console.print("[green]ok[/]: every fact is within the age limit and every file validates.")


@facts_app.command("check")
def check_command(
    ctx: typer.Context,
    today: Annotated[str | None, typer.Option("--today", help="Check as of this date (YYYY-MM-DD).")] = None,
    max_age_days: Annotated[
        int | None, typer.Option("--max-age-days", help="Stale after this many days (120).")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option("--horizon-days", help="List offerings ending within (90).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List stale facts and offerings that ended or close soon; exit 1 when a fact is stale or a file invalid."""
    args = {"today": today, "max_age_days": max_age_days, "horizon_days": horizon_days}
    run(ctx, "facts_check", args, json_out=json_out, render=_render_check, problems=lambda r: not r.ok)


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


@facts_app.command("refresh")
def refresh_command(
    ctx: typer.Context,
    litellm: Annotated[
        str, typer.Option("--litellm", help="LiteLLM model_prices_and_context_window.json: path or URL.")
    ],
    out_path: Annotated[str, typer.Option("--out", help="Where to write the diff for review.")] = "facts-refresh.diff",
    apply: Annotated[bool, typer.Option("--apply", help="Also write the updated reference/data/pricing.yaml.")] = False,
    today: Annotated[str | None, typer.Option("--today", help="as_of date for changed rows (YYYY-MM-DD).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Propose per-token inference prices and deprecation dates from LiteLLM's price map, as a diff.

    Training, hosting and storage fees are never touched (LiteLLM has none).
    """
    from tools import knowledge
    from tools.facts.refresh import LITELLM_URL, load_litellm, refresh_pricing

    ws = workspace_of(ctx)
    try:
        on = date.fromisoformat(today) if today else knowledge.today()
    except ValueError:
        fail(ToolError("bad_today", f"--today {today!r} is not a date", "use YYYY-MM-DD"), json_out=json_out)
    try:
        is_url = litellm.startswith(("https://", "http://"))
        source = litellm if is_url else str(ws.input_file(litellm, what="LiteLLM price map"))
        data = load_litellm(source)
        pricing_path = reference_data_dir() / "pricing.yaml"
        result = refresh_pricing(
            data,
            pricing_path,
            on,
            source_url=litellm if is_url else LITELLM_URL,
            providers_path=reference_data_dir() / "providers.yaml",
        )
        diff_path = ws.output_file(out_path, what="diff file")
        write_text_atomic(diff_path, result.diff or "# no changes\n")
        if apply and result.changes:
            write_text_atomic(pricing_path, result.new_text)
    except ToolError as exc:
        fail(exc, json_out=json_out)
    summary = {
        "changes": [
            {"row": c.row, "field": c.field, "old": str(c.old) if c.old is not None else None, "new": str(c.new)}
            for c in result.changes
        ],
        "diff": ws.relative(diff_path),
        "applied": bool(apply and result.changes),
        "missing_keys": result.missing_keys,
        "unlisted_ft_keys": result.unlisted_ft_keys[:30],
        "serving_mismatches": result.serving_mismatches,
        "untouched": "training, hosting, storage and discount rows (LiteLLM carries no such fees)",
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        out.print(
            f"{len(result.changes)} changes proposed; diff written to {summary['diff']}"
            + (" and applied to pricing.yaml" if summary["applied"] else " (review it, then rerun with --apply)")
        )
        for c in result.changes:
            out.print(f"  {c.row}: {c.field} {c.old} -> {c.new}")
        for line in result.missing_keys:
            out.print(f"  [yellow]not in LiteLLM[/]: {line}")
        for line in result.serving_mismatches:
            out.print(f"  [yellow]check[/]: {line}")
        if result.unlisted_ft_keys:
            out.print(
                f"  LiteLLM prices {len(result.unlisted_ft_keys)} fine-tuned models pricing.yaml does not list: "
                + ", ".join(result.unlisted_ft_keys[:8])
            )
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.add_typer(facts_app, name="facts")
