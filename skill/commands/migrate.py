"""`finetune migrate inventory|golden|choose|report`: move an OpenAI fine-tune to an open-weight LoRA before
OpenAI stops serving it (migrations/<model>/)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skill.console import JsonFlag, run

migrate_app = typer.Typer(
    help="Move an OpenAI fine-tune to an open-weight LoRA, with proof it answers the same (migrations/<model>/).",
    no_args_is_help=True,
)


@migrate_app.command("inventory")
def inventory(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Only this fine-tuned model (ft:...).")] = None,
    training_file: Annotated[
        str | None, typer.Option("--training-file", help="Describe --model from this local file (no API call).")
    ] = None,
    no_download: Annotated[
        bool, typer.Option("--no-download", help="Do not download the training and validation files.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """The organisation's fine-tunes (OPENAI_API_KEY): base, job, files, serving end and days left."""
    args = {"model": model, "training_file": training_file, "download": not no_download}
    run(ctx, "openai_inventory", args, json_out=json_out, problems=lambda r: any(m.status == "ended" for m in r.models))


@migrate_app.command("golden")
def golden(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The fine-tuned model whose answers to record (ft:...).")],
    eval_data: Annotated[str | None, typer.Option("--eval", help="Held-out prompts (best).")] = None,
    training_data: Annotated[
        str | None, typer.Option("--training", help="Sample prompts from this training file instead.")
    ] = None,
    sample: Annotated[int | None, typer.Option("--sample", help="Prompts to sample from the training file.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="batch (lower price, within 24 h) or sync.")] = "batch",
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Answer tokens per prompt.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Send the prompts and pay (without it: the prompts and the price).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Record the old model's answers while it still serves (dry run with both prices unless --confirm)."""
    args: dict[str, Any] = {
        "model": model,
        "eval_data": eval_data,
        "training_data": training_data,
        "sample": sample,
        "mode": mode,
        "max_tokens": max_tokens,
        "seed": seed,
        "confirm": confirm,
    }
    run(ctx, "record_golden_outputs", args, json_out=json_out)


@migrate_app.command("choose")
def choose(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The fine-tuned model to replace (ft:...).")],
    training_data: Annotated[
        str | None, typer.Option("--data", help="Training JSONL (default: the inventory's).")
    ] = None,
    monthly_requests: Annotated[int | None, typer.Option("--monthly-requests", help="Requests per month.")] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Serving budget per month (USD).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Hugging Face id of the open-weight base.")] = None,
    size: Annotated[float | None, typer.Option("--size", help="Size class in billions.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Required processing region.")] = None,
    on_premises: Annotated[bool, typer.Option("--on-premises", help="The data may not leave your machines.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """An open-weight base and the paths to train and serve it, priced against today's OpenAI cost."""
    args = {
        "model": model,
        "training_data": training_data,
        "monthly_requests": monthly_requests,
        "monthly_budget_usd": budget,
        "open_weight_model": base,
        "model_size_b": size,
        "region": region,
        "data_may_leave": False if on_premises else None,
    }
    run(ctx, "choose_replacement", args, json_out=json_out)


@migrate_app.command("report")
def report(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The fine-tuned model being replaced (ft:...).")],
    run_id: Annotated[str | None, typer.Option("--run", help="The launch_lora run of the replacement.")] = None,
    predictions: Annotated[
        str | None, typer.Option("--predictions", help="Or: the replacement's outputs made elsewhere (JSONL).")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Tokens per answer.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Report file (default migrations/<model>/...).")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="Generate (without it: say what would run).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Compare the replacement with the golden outputs and write the migration report (exit 1 on a regression)."""
    args = {
        "model": model,
        "run_id": run_id,
        "candidate": {"predictions": predictions} if predictions else None,
        "max_new_tokens": max_new_tokens,
        "report": out,
        "confirm": confirm,
    }
    run(ctx, "migration_report", args, json_out=json_out, problems=lambda r: r.verdict == "regression")


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")


__all__ = ["register"]
