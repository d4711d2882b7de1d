"""launch_lora: start a local LoRA / QLoRA fine-tuning run in the background and return its id at once."""

from __future__ import annotations

import math
import re
import secrets
import time
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, current, sha256_file
from tools.local_models.loader import ModelRef, resolve_model
from tools.local_models.tiny import TINY_MODEL_ID, is_tiny
from tools.plan.scale import DEEPSPEED, check_nodes
from tools.plan.training_plan import (
    TrainingPlan,
    load_defaults,
)
from tools.train.data import DataSet, eval_size, read_dataset, resolve_objective
from tools.train.distributed import ACCELERATE_CONFIG, DEEPSPEED_CONFIG, FsdpSettings, check_sharding
from tools.train.launch_checks import check_objective, launch_warnings, merge_plan, run_preflight
from tools.train.models import DataCount, LaunchLoraRequest, LaunchLoraResult
from tools.train.nodes import check_same_launch, new_shared_folder, record_node, shared_run_id, wait_for_run
from tools.train.process import lock_run, spawn_worker
from tools.train.runs import RUNS_DIR, now_iso, run_info, runs_root, this_host, update_status, write_json


def _count(data: DataSet) -> DataCount:
    skipped = sorted(data.bad_lines + data.no_assistant)
    return DataCount(
        path=data.path,
        format=data.format,
        lines=data.lines,
        usable=len(data.records),
        skipped_lines=skipped[:20],
        preference=data.preference,
    )


def _plan(ws: Workspace, req: LaunchLoraRequest) -> TrainingPlan:
    overrides = {
        "base_model": req.model,
        "max_steps": req.max_steps,
        "num_epochs": req.num_epochs,
        "learning_rate": req.learning_rate,
        "per_device_batch_size": req.per_device_batch_size,
        "gradient_accumulation_steps": req.gradient_accumulation_steps,
        "max_seq_len": req.max_seq_len,
        "batching": req.batching,
        "seed": req.seed,
        "objective": req.objective,
        "report_to": req.report_to,
        "sharding": req.sharding,
        "offload": req.offload,
        "nodes": req.nodes,
        "node_rank": req.node_rank,
        "main_address": req.main_address,
    }
    return merge_plan(ws, req.plan, req.plan_file, overrides, req.lora_r)


def _device(plan: TrainingPlan) -> tuple[str, str]:
    from tools.train.model import device_and_precision

    return device_and_precision(plan)


@tool(effect="write", stage="train", duration="minutes")
def launch_lora(req: LaunchLoraRequest) -> LaunchLoraResult:
    """Start a local LoRA or QLoRA fine-tuning run (TRL's SFTTrainer, DPOTrainer or GRPOTrainer with peft, on this
        machine's GPU or CPU) on a dataset and return its run id at once; the training runs in its own background
        process.

        SFT for chat data (loss on assistant tokens only, OpenAI weight 0 honoured, our rendering with the model's chat
        template); DPO for preference data (prompt/chosen/rejected), chosen automatically; GRPO with objective grpo,
        rewarded by run_eval's checks. A preflight runs first and refuses when nothing would be trained or most
        examples would be cut; preview=true shows examples token by token. The model must be local (a folder, the
        Hugging Face cache, gemma-3-270m or tiny-random-llama): nothing is downloaded. runs/<id>/ gets config.json,
        trl_config.yaml (the TRL config it trains with), status.json, metrics.jsonl, trainer_state.json, checkpoints
        (last K), adapter/ and report.md with the loss diagnosis; a watchdog stops a diverging run. Call without
        confirm first to see the plan, data counts and estimated steps; poll with run_status, stop with stop_run,
        continue a stopped or killed run with resume_run. Several processes (num_processes) go through accelerate launch
    with a sharding mode (ddp, fsdp, deepspeed_zero2/3); several machines run the same launch with run_name, nodes,
    their own node_rank and node 0's main_address on shared storage (write_launch_recipe writes the Slurm or SkyPilot
    script). For provider jobs use the provider tools instead."""
    ws = current()
    data_path = ws.input_file(req.data, what="training data")
    eval_path = ws.input_file(req.eval_data, what="eval data") if req.eval_data else None
    plan = _plan(ws, req)
    ref = resolve_model(plan.base_model, ws.root)
    plan = plan.model_copy(update={"base_model": ref.name})
    device, precision = _device(plan)
    procs = req.num_processes or 1
    check_nodes(plan.nodes, plan.node_rank, plan.main_address)
    run_id = shared_run_id(req.run_name, plan.nodes) if plan.nodes > 1 else None
    world = procs * plan.nodes
    check_sharding(plan.sharding, plan.method, precision, world, cuda=device == "cuda")
    data = read_dataset(data_path, ws.relative(data_path))
    objective = resolve_objective(plan.objective, data)
    check_objective(ws, plan, objective, world)
    eval_set = read_dataset(eval_path, ws.relative(eval_path)) if eval_path else None
    n_eval = (
        len(eval_set.records)
        if eval_set
        else 0
        if objective == "grpo"
        else eval_size(len(data.records), plan.eval_fraction)
    )
    n_train = len(data.records) - (0 if eval_set else n_eval)
    batches = math.ceil(n_train / plan.per_device_batch_size)
    steps_per_epoch = max(1, math.ceil(batches / (plan.gradient_accumulation_steps * world)))
    steps = plan.max_steps or max(1, math.ceil(steps_per_epoch * plan.num_epochs))
    report = run_preflight(ref, plan, data, samples=2 if req.preview else 0)
    per_example = report.tokens / max(report.examples, 1)
    tokens = int(per_example * plan.effective_batch * world * steps)
    seconds = None
    if is_tiny(plan.base_model) and device == "cpu":
        seconds = round(tokens / load_defaults().number("tiny_random_llama_cpu") + 10, 1)
    warnings = _fact_warnings() + launch_warnings(plan, n_train, n_eval, world, steps_per_epoch) + report.warnings
    if data.bad_lines or data.no_assistant:
        skipped = sorted(data.bad_lines + data.no_assistant)
        warnings.append(
            f"{len(skipped)} lines of {data.path} are not usable examples and will be skipped "
            f"(first: line {skipped[0]}); validate_jsonl says why"
        )
    if objective == "dpo" and plan.objective == "auto":
        warnings.insert(0, f"{data.path} is preference data (chosen/rejected answers): training with DPO")
    when = (
        f"about {seconds:g} s"
        if seconds is not None
        else "unknown (no throughput figure for this model here; the first logged steps give tokens/s)"
    )
    common = dict(
        plan=plan,
        data=_count(data),
        eval_data=_count(eval_set) if eval_set else None,
        train_examples=n_train,
        eval_examples=n_eval,
        estimated_steps=steps,
        estimated_tokens=tokens,
        estimated_seconds=seconds,
        device=device,
        precision=precision,
        objective=objective,
        preflight=report,
        warnings=warnings[:12],
    )
    what = (
        f"{plan.base_model} with {objective.upper()} + {plan.method} (r={plan.lora_r}) on {n_train} examples "
        f"({n_eval} held out) for {steps} steps of {plan.effective_batch} examples"
        + _scale_text(procs, plan)
        + f", {precision} on {device}; preflight: {report.trained_tokens:,} of {report.tokens:,} tokens trained, "
        f"{report.truncated} examples cut"
    )
    if not req.confirm:
        message = f"would train {what}; time {when}. " + say(
            "confirm_to_start", tool="launch_lora", command="finetune train", chat="train it", action="start"
        )
        return LaunchLoraResult(started=False, run_id=None, folder=None, pid=None, message=message, **common)
    if plan.node_rank > 0:
        assert run_id is not None
        pid = _join(ws, req, plan, run_id, procs)
        folder = runs_root(ws) / run_id
    else:
        run_id, folder = _start(ws, req, plan, ref, data_path, eval_path, procs, steps, device, run_id)
        lock_fd = lock_run(folder, run_id)
        pid = spawn_worker(folder, resume=False, lock_fd=lock_fd)
        update_status(folder, pid=pid, host=this_host())
        if plan.nodes > 1:
            record_node(folder, 0, pid, resume=False)
    return LaunchLoraResult(
        started=True,
        run_id=run_id,
        folder=ws.relative(folder),
        pid=pid,
        message=f"run {run_id} started (pid {pid}): {what}; time {when}; " + say("watch_run", run_id=run_id),
        **common,
    )


def _start(
    ws: Workspace,
    req: LaunchLoraRequest,
    plan: TrainingPlan,
    ref: ModelRef,
    data_path: Path,
    eval_path: Path | None,
    procs: int,
    steps: int,
    device: str,
    shared_id: str | None,
) -> tuple[str, Path]:
    """The new run folder with its config.json and a queued status.json (a several-node run: named ``shared_id``)."""
    if shared_id is not None:
        run_id, folder = shared_id, new_shared_folder(ws, shared_id)
    else:
        run_id = _new_run_id(ws, plan.base_model, req.run_name)
        folder = runs_root(ws) / run_id
        folder.mkdir(parents=True)
    label = ws.relative(data_path)
    config = {
        "run_id": run_id,
        "created_at": now_iso(),
        "workspace": str(ws.root),
        "kind": "local_lora",
        "plan": plan.model_dump(mode="json"),
        "model": {"name": ref.name, "kind": ref.kind, "path": ref.path},
        "device": device,
        "data": {"path": str(data_path), "label": label, "sha256": sha256_file(data_path)},
        "eval_data": {"path": str(eval_path), "label": ws.relative(eval_path), "sha256": sha256_file(eval_path)}
        if eval_path
        else None,
        "merge": req.merge,
        **_processes(procs, plan),
        "reproduce": f"finetune train {label} --model {plan.base_model} --plan-file {RUNS_DIR}/{run_id}/config.json"
        + (f" --processes {procs} --sharding {plan.sharding}" if procs * plan.nodes > 1 else "")
        + (f" --nodes {plan.nodes} --node-rank R --main-address {plan.main_address}" if plan.nodes > 1 else "")
        + " --confirm",
    }
    write_json(folder / "config.json", config)
    update_status(
        folder,
        run_id=run_id,
        state="queued",
        pid=None,
        step=0,
        total_steps=steps,
        created_at=now_iso(),
        error=None,
        stop_reason=None,
    )
    return run_id, folder


def _processes(procs: int, plan: TrainingPlan) -> dict[str, Any]:
    """The config.json keys that say how the run is launched: one process, or accelerate launch with the run's
    own accelerate_config.yaml (written from these keys by tools.train.process.launch_command); ``num_processes``
    counts the processes of one node."""
    if procs * plan.nodes == 1:
        return {"num_processes": 1}
    out: dict[str, Any] = {
        "num_processes": procs,
        "nodes": plan.nodes,
        "sharding": plan.sharding,
        "offload": plan.offload,
        "accelerate_config": ACCELERATE_CONFIG,
    }
    if plan.nodes > 1:
        out["main_address"] = plan.main_address
    if plan.sharding == "fsdp":
        out["fsdp"] = FsdpSettings(offload_params=plan.offload).model_dump()
    if plan.sharding in DEEPSPEED:
        out["deepspeed_config"] = DEEPSPEED_CONFIG
    return out


def _scale_text(procs: int, plan: TrainingPlan) -> str:
    if plan.nodes > 1:
        return f" x {plan.nodes} nodes of {procs} processes ({plan.sharding}; this is node {plan.node_rank})"
    return f" x {procs} processes ({plan.sharding})" if procs > 1 else ""


def _join(ws: Workspace, req: LaunchLoraRequest, plan: TrainingPlan, run_id: str, procs: int) -> int:
    """Node rank > 0: start this node's ranks on the run node 0 created; the launcher's pid."""
    folder, config = wait_for_run(ws, run_id, req.join_wait_s)
    check_same_launch(config, run_id, plan.nodes, procs, plan.main_address)
    lock_fd = lock_run(folder, run_id, node_rank=plan.node_rank)
    pid = spawn_worker(folder, resume=False, lock_fd=lock_fd, node_rank=plan.node_rank)
    record_node(folder, plan.node_rank, pid, resume=False)
    return pid


def _fact_warnings() -> list[str]:
    """The notices about the defaults a launch uses (tools.knowledge's FactUsage): end dates once, and every row past
    its review age in one line, so `train` says it once."""
    from tools.knowledge.usage import FactUsage

    d = load_defaults()
    rows = list(d.hyperparameters) + list(d.choices) + list(d.watchdog)
    return FactUsage().add(rows, file="lora_defaults.yaml").notices()


def _new_run_id(ws: Workspace, model: str, name: str | None) -> str:
    slug_src = name or (TINY_MODEL_ID if is_tiny(model) else Path(model.rstrip("/")).name)
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", slug_src).strip("-.")[:40] or "run"
    for _ in range(20):
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"
        if not (runs_root(ws) / run_id).exists():
            return run_id
    raise ToolError("run_id_clash", "could not pick a new run id", f"clean up {RUNS_DIR}/")


__all__ = ["LaunchLoraRequest", "LaunchLoraResult", "launch_lora", "run_info"]
