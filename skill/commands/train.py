"""`finetune train DATA` and `finetune runs list|status|stop|resume|logs`: local LoRA runs."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skill.console import EXIT_OK, EXIT_PROBLEMS, JsonFlag, call_tool, finish, out, render_result, run, workspace_of
from tools.train.documents import metric_text, run_failed

runs_app = typer.Typer(help="Watch and steer local training runs (runs/<id>/).", no_args_is_help=True)


def _wait(ctx: typer.Context, run_id: str, json_out: bool) -> None:
    """Show a progress bar until the run ends, then its summary and diagnosis."""
    from tools.train.runs import run_dir, run_info

    ws = workspace_of(ctx)
    folder = run_dir(ws, run_id)
    terminal = {"completed", "failed", "stopped"}
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True) if json_out else out,
            transient=False,
        ) as bar:
            task = bar.add_task(run_id, total=None, metrics="starting")
            while True:
                info = run_info(ws, folder)
                m = info.latest
                metrics = f"loss {metric_text(m.loss)} eval {metric_text(m.eval_loss)}" if m else info.state
                bar.update(task, total=info.total_steps, completed=info.step, metrics=metrics)
                if info.state in terminal:
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        out.print(f"\nthe run goes on in the background; stop it with `finetune runs stop {run_id}`")
        raise typer.Exit(EXIT_OK) from None
    result = call_tool(
        ctx, "run_status", {"run_id": run_id, "log_lines": 0 if not json_out else None}, json_out=json_out
    )
    finish(result, json_out=json_out, render=render_result, problems=lambda r: any(run_failed(i) for i in r.runs))


def train(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="Training data (JSONL in any supported format).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Base model: HF id, local folder, or tiny-random-llama.")
    ] = "tiny-random-llama",
    eval_data: Annotated[str | None, typer.Option("--eval-data", help="Held-out data for eval loss.")] = None,
    plan_file: Annotated[
        str | None, typer.Option("--plan-file", help="A JSON training plan (or a run's config.json).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the data.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="LoRA rank.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Examples per micro-batch.")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum", help="Micro-batches per optimizer step.")] = None,
    max_seq_len: Annotated[int | None, typer.Option("--max-seq-len", help="Tokens per example.")] = None,
    batching: Annotated[str | None, typer.Option("--batching", help="packed, length_grouped, padded or auto.")] = None,
    processes: Annotated[
        int | None, typer.Option("--processes", help="Train with N processes through accelerate launch (DDP).")
    ] = None,
    sharding: Annotated[
        str | None,
        typer.Option(
            "--sharding",
            help="With several processes: ddp (each holds the model; the plan's default), fsdp, deepspeed_zero2 or "
            "deepspeed_zero3 (the model or its training state is split over them).",
        ),
    ] = None,
    offload: Annotated[
        bool, typer.Option("--offload", help="fsdp / deepspeed: keep weights and optimizer state in CPU memory.")
    ] = False,
    nodes: Annotated[
        int | None, typer.Option("--nodes", help="Machines the run spans (the same command on each, with --name).")
    ] = None,
    node_rank: Annotated[int | None, typer.Option("--node-rank", help="This machine's node rank (0: main).")] = None,
    main_address: Annotated[
        str | None, typer.Option("--main-address", help="HOST:PORT of node 0, where every node's processes meet.")
    ] = None,
    emit: Annotated[
        str | None,
        typer.Option("--emit", help="Write a cluster launch file instead of training: slurm or skypilot."),
    ] = None,
    shared_dir: Annotated[
        str | None, typer.Option("--shared-dir", help="--emit: the folder every node sees (runs and checkpoints).")
    ] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="--emit skypilot: bucket mounted there.")] = None,
    accelerators: Annotated[
        str | None, typer.Option("--accelerators", help="--emit skypilot: GPUs per node, NAME:COUNT.")
    ] = None,
    emit_out: Annotated[str | None, typer.Option("--out", help="--emit: where to write the file.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed.")] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective", help="sft, dpo (preference data) or grpo; default: dpo for preference data, else sft."
        ),
    ] = None,
    report_to: Annotated[
        list[str] | None,
        typer.Option("--report-to", help="Also log to a tracker: mlflow, tensorboard, trackio or wandb (repeatable)."),
    ] = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Show two examples token by token, marking what is trained.")
    ] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Also write merged weights.")] = False,
    name: Annotated[str | None, typer.Option("--name", help="A short name for the run id.")] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Start training (without it: show the plan and estimate).")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show a progress bar until the run ends, then its summary.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Fine-tune a LoRA adapter locally on DATA (dry run unless --confirm; --wait to watch it), or write a Slurm /
    SkyPilot launch file for several nodes (--emit)."""
    if emit:
        recipe = {
            "kind": emit,
            "data": data,
            "run_name": name,
            "nodes": nodes or 1,
            "processes_per_node": processes or 1,
            "shared_dir": shared_dir,
            "model": model,
            "plan_file": plan_file,
            "max_steps": max_steps,
            "sharding": sharding,
            "offload": offload or None,
            "bucket": bucket,
            "accelerators": accelerators,
            "out": emit_out,
        }
        run(ctx, "write_launch_recipe", recipe, json_out=json_out)
    args = {
        "data": data,
        "model": model,
        "eval_data": eval_data,
        "plan_file": plan_file,
        "max_steps": max_steps,
        "num_epochs": epochs,
        "learning_rate": learning_rate,
        "lora_r": lora_r,
        "per_device_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "max_seq_len": max_seq_len,
        "batching": batching,
        "seed": seed,
        "objective": objective,
        "report_to": report_to,
        "preview": preview,
        "num_processes": processes,
        "sharding": sharding,
        "offload": offload or None,
        "nodes": nodes,
        "node_rank": node_rank,
        "main_address": main_address,
        "merge": merge,
        "run_name": name,
        "confirm": confirm,
    }
    result: Any = call_tool(ctx, "launch_lora", args, json_out=json_out)
    if not (wait and result.started):
        finish(result, json_out=json_out, render=render_result)
    if not json_out:
        render_result(result, out)
    if result.plan.node_rank > 0:
        _wait_node(ctx, result.run_id, result.pid, json_out)
    _wait(ctx, result.run_id, json_out)


def _wait_node(ctx: typer.Context, run_id: str, pid: int | None, json_out: bool) -> None:
    """Node rank > 0 of a several-node run: wait for this node's own launcher to end (node 0's processes, which
    the run's status follows, live on another machine), then show the run as node 0 left it."""
    from tools.train.runs import pid_alive

    if not json_out:
        out.print(f"node launcher pid {pid}: waiting for it to end", highlight=False)
    while pid and pid_alive(pid):
        time.sleep(1.0)
    run(ctx, "run_status", {"run_id": run_id}, json_out=json_out)


@runs_app.command("list")
def list_runs(ctx: typer.Context, json_out: JsonFlag = False) -> None:
    """List every run in runs/ with its state and latest loss."""
    run(ctx, "run_status", {}, json_out=json_out)


@runs_app.command("status")
def status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run until it ends.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """State, progress, latest metrics, checkpoint and adapter of one run (exit 1 if it failed)."""
    if wait:
        _wait(ctx, run_id, json_out)
    run(
        ctx,
        "run_status",
        {"run_id": run_id},
        json_out=json_out,
        problems=lambda r: any(run_failed(i) for i in r.runs),
    )


@runs_app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines of train.log.")] = 40,
    json_out: JsonFlag = False,
) -> None:
    """The last lines of the run's train.log."""
    run(ctx, "run_status", {"run_id": run_id, "log_lines": lines}, json_out=json_out)


@runs_app.command("stop")
def stop(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    wait_s: Annotated[float, typer.Option("--wait", help="Seconds to wait for the clean stop.")] = 60.0,
    json_out: JsonFlag = False,
) -> None:
    """Stop a run cleanly (checkpoint + adapter so far); resume it later."""
    run(ctx, "stop_run", {"run_id": run_id, "wait_s": wait_s}, json_out=json_out)


@runs_app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    confirm: Annotated[bool, typer.Option("--confirm", help="Start the process (without it: say from where).")] = False,
    node_rank: Annotated[
        int, typer.Option("--node-rank", help="A run over several nodes: this machine's node rank.")
    ] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="Show a progress bar until the run ends.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Continue a stopped or killed run from its last checkpoint."""
    args = {"run_id": run_id, "confirm": confirm, "node_rank": node_rank}
    result: Any = call_tool(ctx, "resume_run", args, json_out=json_out)
    if not (wait and result.started):
        finish(result, json_out=json_out, render=render_result)
    if not json_out:
        render_result(result, out)
    if node_rank > 0:
        _wait_node(ctx, run_id, result.pid, json_out)
    _wait(ctx, run_id, json_out)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(runs_app, name="runs")


__all__ = ["EXIT_PROBLEMS", "register"]
