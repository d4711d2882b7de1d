"""launch_lora: start a local LoRA / QLoRA fine-tuning run in the background and return its id at once."""

from __future__ import annotations

import math
import re
import secrets
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from tools.core.errors import ToolError
from tools.core.fields import InputPath
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, current, sha256_file
from tools.local_models.loader import ModelRef, resolve_model
from tools.local_models.preflight import PreflightReport
from tools.local_models.tiny import TINY_MODEL_ID, is_tiny
from tools.plan.training_plan import (
    Batching,
    Objective,
    Tracker,
    TrainingPlan,
    load_defaults,
)
from tools.train.data import DataSet, eval_size, read_dataset, resolve_objective
from tools.train.distributed import ACCELERATE_CONFIG, FsdpSettings, Sharding, check_fsdp
from tools.train.launch_checks import check_objective, launch_warnings, merge_plan, run_preflight
from tools.train.process import lock_run, spawn_worker
from tools.train.runs import RUNS_DIR, now_iso, run_info, runs_root, update_status, write_json


class LaunchLoraRequest(BaseModel):
    """What to train on, with which plan; overrides win over the plan."""

    data: InputPath = Field(
        description="Training data (JSONL in any format validate_jsonl reads: OpenAI chat, ShareGPT, Alpaca, "
        "prompt/completion, ...)."
    )
    eval_data: InputPath | None = Field(
        None, description="Held-out data for eval loss; default: eval_fraction of data is held out."
    )
    model: str | None = Field(
        None,
        description=(
            "Base model: a local model folder in the workspace, a Hugging Face id already in the local cache, "
            "'gemma-3-270m' (the real pretrained Gemma 3 270M of the real-model extra) or 'tiny-random-llama' "
            "(built in, random weights, for demos and tests). Nothing is downloaded. Default: the plan's base_model."
        ),
    )
    plan: TrainingPlan | None = Field(
        None,
        description="A full training plan (configure_training writes one); unset fields take the documented defaults.",
    )
    plan_file: InputPath | None = Field(None, description="A JSON file holding a training plan (instead of plan).")
    max_steps: int | None = Field(None, ge=1, description="Override: stop after this many optimizer steps.")
    num_epochs: float | None = Field(None, gt=0, description="Override: passes over the data.")
    learning_rate: float | None = Field(None, gt=0, description="Override: peak learning rate.")
    lora_r: int | None = Field(None, ge=1, description="Override: LoRA rank (alpha keeps the plan's alpha/r ratio).")
    per_device_batch_size: int | None = Field(None, ge=1, description="Override: examples per micro-batch.")
    gradient_accumulation_steps: int | None = Field(
        None, ge=1, description="Override: micro-batches per optimizer step."
    )
    max_seq_len: int | None = Field(None, ge=8, description="Override: tokens per example (longer ones are truncated).")
    batching: Batching | None = Field(None, description="Override: packed, length_grouped, padded or auto.")
    seed: int | None = Field(None, description="Override: seed for data order, split, LoRA init and dropout.")
    objective: Objective | None = Field(
        None,
        description="Override: sft, dpo (preference data) or grpo (rewards from run_eval's checks); auto picks dpo for "
        "preference data, else sft.",
    )
    report_to: list[Tracker] | None = Field(
        None, description="Override: log to these trackers as well (mlflow, tensorboard, trackio, wandb)."
    )
    preview: bool = Field(
        False,
        description="Also show two rendered examples token by token, each token marked trained or not (the preflight "
        "runs at every launch; this shows its samples).",
    )
    num_processes: int | None = Field(
        None,
        ge=1,
        le=64,
        description=(
            "Train with this many processes through `accelerate launch` (DDP: one per GPU, or CPU processes over "
            "gloo); "
            "each takes its share of every step's micro-batches, so the effective batch grows by this factor."
        ),
    )
    sharding: Sharding = Field(
        "ddp",
        description=(
            "How several processes hold the model: 'ddp' (each holds all of it; the default) or 'fsdp' (FSDP2: the "
            "base and LoRA weights are split over the processes, each holds about 1/num_processes; for a model that "
            "does not fit one GPU; needs num_processes >= 2, not QLoRA or fp16). Same data order and result as ddp."
        ),
    )
    merge: bool = Field(False, description="Also write merged full weights (base + adapter) to runs/<id>/merged/.")
    run_name: str | None = Field(None, description="A short name to put in the run id.")
    confirm: StrictBool = Field(
        False,
        description=(
            "Must be true to start training (it runs for minutes and uses the machine); without it the tool only "
            "says what would run: the plan, the data counts, the estimated steps and time."
        ),
    )


class DataCount(BaseModel):
    path: str
    format: str | None
    lines: int
    usable: int
    skipped_lines: list[int]
    preference: bool = False


class LaunchLoraResult(BaseModel):
    started: bool
    run_id: str | None
    folder: str | None
    pid: int | None
    plan: TrainingPlan
    data: DataCount
    eval_data: DataCount | None
    train_examples: int
    eval_examples: int
    estimated_steps: int
    estimated_tokens: int | None
    estimated_seconds: float | None
    device: str
    precision: str
    objective: str
    preflight: PreflightReport
    message: str
    warnings: list[str]


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
    continue a stopped or killed run with resume_run. For provider jobs use the provider tools instead."""
    ws = current()
    data_path = ws.input_file(req.data, what="training data")
    eval_path = ws.input_file(req.eval_data, what="eval data") if req.eval_data else None
    plan = _plan(ws, req)
    ref = resolve_model(plan.base_model, ws.root)
    plan = plan.model_copy(update={"base_model": ref.name})
    device, precision = _device(plan)
    procs = req.num_processes or 1
    if req.sharding == "fsdp":
        check_fsdp(plan.method, precision, procs, cuda=device == "cuda")
    data = read_dataset(data_path, ws.relative(data_path))
    objective = resolve_objective(plan.objective, data)
    check_objective(ws, plan, objective, procs)
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
    steps_per_epoch = max(1, math.ceil(batches / (plan.gradient_accumulation_steps * procs)))
    steps = plan.max_steps or max(1, math.ceil(steps_per_epoch * plan.num_epochs))
    report = run_preflight(ref, plan, data, samples=2 if req.preview else 0)
    per_example = report.tokens / max(report.examples, 1)
    tokens = int(per_example * plan.effective_batch * procs * steps)
    seconds = None
    if is_tiny(plan.base_model) and device == "cpu":
        seconds = round(tokens / load_defaults().number("tiny_random_llama_cpu") + 10, 1)
    warnings = _fact_warnings() + launch_warnings(plan, n_train, n_eval, procs, steps_per_epoch) + report.warnings
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
        + (f" x {procs} processes ({req.sharding})" if procs > 1 else "")
        + f", {precision} on {device}; preflight: {report.trained_tokens:,} of {report.tokens:,} tokens trained, "
        f"{report.truncated} examples cut"
    )
    if not req.confirm:
        message = f"would train {what}; time {when}. " + say(
            "confirm_to_start", tool="launch_lora", command="finetune train", chat="train it", action="start"
        )
        return LaunchLoraResult(started=False, run_id=None, folder=None, pid=None, message=message, **common)
    run_id, folder = _start(ws, req, plan, ref, data_path, eval_path, procs, steps, device)
    lock_fd = lock_run(folder, run_id)
    pid = spawn_worker(folder, resume=False, lock_fd=lock_fd)
    update_status(folder, pid=pid)
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
) -> tuple[str, Path]:
    """The new run folder with its config.json and a queued status.json."""
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
        **_processes(procs, req.sharding),
        "reproduce": f"finetune train {label} --model {plan.base_model} --plan-file {RUNS_DIR}/{run_id}/config.json"
        + (f" --processes {procs} --sharding {req.sharding}" if procs > 1 else "")
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


def _processes(procs: int, sharding: Sharding) -> dict[str, Any]:
    """The config.json keys that say how the run is launched: one process, or accelerate launch with the run's
    own accelerate_config.yaml (written from these keys by tools.train.process.launch_command)."""
    if procs == 1:
        return {"num_processes": 1}
    out: dict[str, Any] = {"num_processes": procs, "sharding": sharding, "accelerate_config": ACCELERATE_CONFIG}
    if sharding == "fsdp":
        out["fsdp"] = FsdpSettings().model_dump()
    return out


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
