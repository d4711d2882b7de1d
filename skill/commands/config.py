"""`finetune config`: hyperparameters with reasons, memory fit, and exports for TRL / Axolotl / LLaMA-Factory /
Unsloth / Together / OpenAI (legacy)."""

from __future__ import annotations

from typing import Annotated

import typer

from skill.console import JsonFlag, run


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
    gpus: Annotated[
        int | None,
        typer.Option("--gpus", help="GPUs at hand (all nodes): sizes the sharding when the model does not fit one."),
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
        "gpu_count": gpus,
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
        problems=lambda r: r.memory.fits is False,
    )


def register(app: typer.Typer) -> None:
    app.command("config")(config)
