"""`finetune config`: hyperparameters with reasons, memory fit, and exports for TRL / Axolotl / LLaMA-Factory /
Unsloth / Together / OpenAI (legacy)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from skill.console import JsonFlag, print_notes, run
from tools.configure.models import ConfigResult


def render_config(result: ConfigResult, console: Console) -> None:
    table = Table(title=f"Training configuration ({result.method})")
    for column in ("knob", "value", "why"):
        table.add_column(column)
    for c in result.choices:
        table.add_row(c.name, c.value, c.reason)
    console.print(table)
    m = result.memory
    fit = "unknown hardware" if m.fits is None else "[green]fits[/]" if m.fits else "[red]does not fit[/]"
    console.print(f"Memory: about {m.need_gb} GB ({m.breakdown}); {m.gpu or 'no GPU named'}: {fit}")
    if result.sequence:
        s = result.sequence
        console.print(
            f"Tokens per example: p50 {s.p50}, p95 {s.p95}, p99 {s.p99}, max {s.max} ({s.counter}); "
            f"max_seq_len {s.max_seq_len}, {s.truncated_examples} truncated"
        )
    if result.total_steps:
        console.print(f"{result.steps_per_epoch} steps per epoch, {result.total_steps} in total")
    console.print("\n[bold]Files[/]")
    for e in result.exports:
        console.print(
            f"  {e.path}" + (" [yellow](legacy)[/]" if e.legacy else "") + (f" [dim]- {e.note}[/]" if e.note else "")
        )
    if result.plan_file:
        console.print(
            f"\nTrain it: finetune train <data> --plan-file {result.plan_file}  (or launch_lora "
            f"plan_file={result.plan_file})"
        )
    print_notes(console, result.warnings)


def config(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Argument(help="Training JSONL (sets epochs, batch and sequence length).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Base model (HF id or folder); default tiny-random-llama.")
    ] = None,
    size: Annotated[
        float | None, typer.Option("--size", help="Model size in billions (default: from the name).")
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="lora, qlora or full (default: LoRA, QLoRA if needed).")
    ] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="gpus.yaml id: a100-80gb, h100-sxm, l4, rtx-4090...")] = None,
    gpu_memory: Annotated[
        float | None, typer.Option("--gpu-memory", help="GPU memory in GB, if not in gpus.yaml.")
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    lr: Annotated[float | None, typer.Option("--lr")] = None,
    rank: Annotated[int | None, typer.Option("--rank")] = None,
    max_seq_len: Annotated[int | None, typer.Option("--max-seq-len")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Effective batch size.")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    provider_model: Annotated[
        str | None, typer.Option("--provider-model", help="Model id for the Together / OpenAI job files.")
    ] = None,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Folder for the plan and exports (default finetune-config).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Configure a LoRA/QLoRA/full run and export it for every common trainer and provider."""
    args = {
        "dataset": dataset,
        "base_model": model,
        "model_params_b": size,
        "method": method,
        "gpu": gpu,
        "gpu_memory_gb": gpu_memory,
        "epochs": epochs,
        "learning_rate": lr,
        "lora_r": rank,
        "max_seq_len": max_seq_len,
        "effective_batch_size": batch,
        "seed": seed,
        "provider_model": provider_model,
        "out_dir": out_dir,
    }
    run(
        ctx,
        "configure_training",
        {k: v for k, v in args.items() if v is not None},
        json_out=json_out,
        render=render_config,
        problems=lambda r: r.memory.fits is False,
    )


def register(app: typer.Typer) -> None:
    app.command("config")(config)
