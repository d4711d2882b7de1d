"""`finetune export RUN --to merged|gguf|ollama|vllm|hub`: a run's adapter made servable, with the parity check."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skill.console import JsonFlag, run


def export_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to export (finetune runs list).")],
    to: Annotated[str, typer.Option("--to", help="merged, gguf, ollama, vllm or hub.")] = "merged",
    quant: Annotated[
        str | None, typer.Option("--quant", help="GGUF type: f32, f16, bf16, q8_0, Q4_K_M, ... (default: training).")
    ] = None,
    vllm_mode: Annotated[str, typer.Option("--vllm-mode", help="vllm: adapter (--enable-lora) or merged.")] = "adapter",
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="vllm/merged: float32, bfloat16 or float16 (default: training).")
    ] = None,
    allow_precision_change: Annotated[
        bool,
        typer.Option("--allow-precision-change", help="Export at another precision than training; parity recorded."),
    ] = False,
    no_parity: Annotated[bool, typer.Option("--no-parity", help="Skip the parity check.")] = False,
    parity_data: Annotated[
        str | None, typer.Option("--parity-data", help="Eval set for the golden prompts (default: the run's).")
    ] = None,
    parity_prompts: Annotated[int | None, typer.Option("--parity-prompts", help="Golden prompts to check.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Greedy tokens per prompt.")] = None,
    eval_report: Annotated[
        str | None, typer.Option("--eval-report", help="run_eval report.md whose verdict goes in the model card.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Served model name (default: the run id).")] = None,
    out: Annotated[str | None, typer.Option("--out", help="New export folder (default exports/RUN/TARGET).")] = None,
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="hub: the repository, owner/name.")] = None,
    folder: Annotated[
        str | None, typer.Option("--folder", help="hub: folder to upload (default: the run's adapter).")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="hub: create the repository public.")] = False,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="hub: Hub endpoint (default HF_ENDPOINT).")] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="hub: upload (without it: what would be sent).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Export RUN for serving and check parity with its adapter (exit 1 when the parity check fails)."""
    if to == "hub":
        args: dict[str, Any] = {
            "repo_id": repo_id or "",
            "folder": folder,
            "run_id": None if folder else run_id,
            "private": not public,
            "endpoint": endpoint,
            "confirm": confirm,
        }
        run(ctx, "push_to_hub", args, json_out=json_out)
    args = {
        "run_id": run_id,
        "to": to,
        "quant": quant,
        "vllm_mode": vllm_mode,
        "serve_dtype": dtype,
        "allow_precision_change": allow_precision_change,
        "parity": not no_parity,
        "parity_data": parity_data,
        "parity_prompts": parity_prompts,
        "max_new_tokens": max_new_tokens,
        "eval_report": eval_report,
        "model_name": name,
        "out_dir": out,
    }
    run(
        ctx,
        "export_model",
        args,
        json_out=json_out,
        problems=lambda r: r.parity.verdict == "fail",
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)


__all__ = ["register"]
