"""`finetune job launch|status`: fine-tuning jobs at OpenAI or Together (runs/<id>/)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from skill.console import JsonFlag, call_tool, finish, out, render_result, run

job_app = typer.Typer(
    help="Fine-tuning jobs at a provider (OpenAI, Together), kept in runs/<id>/.", no_args_is_help=True
)


@job_app.command("launch")
def launch(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="Training JSONL in the provider's format.")],
    provider: Annotated[str, typer.Option("--provider", help="openai or together.")],
    model: Annotated[str, typer.Option("--model", help="The provider's base model id.")],
    validation_data: Annotated[str | None, typer.Option("--validation", help="Validation JSONL.")] = None,
    method: Annotated[str, typer.Option("--method", help="supervised or dpo.")] = "supervised",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes over the data.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per batch.")] = None,
    lr_multiplier: Annotated[
        float | None, typer.Option("--lr-multiplier", help="OpenAI: learning-rate multiplier.")
    ] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Together: learning rate.")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="Together: LoRA rank.")] = None,
    dpo_beta: Annotated[float | None, typer.Option("--dpo-beta", help="dpo: beta.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="OpenAI: seed.")] = None,
    suffix: Annotated[str | None, typer.Option("--suffix", help="Name part of the output model.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A short name for the run id.")] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Upload and start the paid job (without it: plan and cost).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Start a fine-tuning job at OpenAI or Together (dry run with the cost estimate unless --confirm)."""
    args = {
        "provider": provider,
        "model": model,
        "data": data,
        "validation_data": validation_data,
        "method": method,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": lr_multiplier,
        "learning_rate": learning_rate,
        "lora_r": lora_r,
        "dpo_beta": dpo_beta,
        "seed": seed,
        "suffix": suffix,
        "run_name": name,
        "confirm": confirm,
    }
    run(ctx, "launch_provider_job", args, json_out=json_out)


@job_app.command("status")
def status(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Argument(help="Run id (empty: every provider run).")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Poll until the job ends (interval from provider_jobs.yaml).")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Read the run folder only; do not ask the provider.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Refresh and show a provider job: state, output model, error, loss, recent events (exit 1 if it failed)."""
    args = {"run_id": run_id, "refresh": not offline}
    if wait and run_id and not offline:
        from tools.jobs.provider_jobs import settings

        interval = float(settings()["poll_interval_s"])
        while True:
            result: Any = call_tool(ctx, "provider_job_status", args, json_out=json_out)
            job = result.jobs[0]
            if job.state in {"completed", "failed", "stopped"}:
                break
            if not json_out:
                out.print(
                    f"[dim]{job.state} ({job.provider_state}) step {job.step}; next poll in {interval:g} s[/]",
                    highlight=False,
                )
            time.sleep(interval)
        finish(
            result,
            json_out=json_out,
            render=render_result,
            problems=lambda r: any(j.state == "failed" for j in r.jobs),
        )
    run(
        ctx,
        "provider_job_status",
        args,
        json_out=json_out,
        problems=lambda r: any(j.state == "failed" for j in r.jobs),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(job_app, name="job")


__all__ = ["register"]
