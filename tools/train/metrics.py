"""The records a local run keeps of itself: the resolved settings in ``config.json``, ``metrics.jsonl`` (one row
per logged step, trimmed back to the checkpoint on resume) and ``trainer_state.json`` in the HF Trainer layout."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.core.workspace import write_text_atomic
from tools.train.model import peak_memory_mb
from tools.train.report import mean_loss, versions
from tools.train.runs import now_iso, write_json

if TYPE_CHECKING:
    from tools.train.worker import Run


@dataclass
class Window:
    """The optimizer steps since the last logged one: summed loss, tokens and time, the last gradient norm."""

    loss: float = 0.0
    tokens_trained: float = 0.0
    tokens: float = 0.0
    time: float = 0.0
    grad_norm: float = 0.0

    def add(self, loss_sum: float, n_trained: int, tokens: int, seconds: float, grad_norm: float) -> None:
        self.loss += loss_sum
        self.tokens_trained += n_trained
        self.tokens += tokens
        self.time += seconds
        self.grad_norm = grad_norm

    def row(self, step: int, epoch: float, eval_loss: float | None, lr: float, device: str) -> dict[str, Any]:
        """The metrics.jsonl row: the per-token mean loss of the window (NaN/inf kept as they are)."""
        loss = self.loss / max(self.tokens_trained, 1) if math.isfinite(self.loss) else self.loss
        gn = self.grad_norm
        return {
            "step": step,
            "epoch": epoch,
            "loss": round(loss, 6) if math.isfinite(loss) else loss,
            "eval_loss": round(eval_loss, 6) if eval_loss is not None else None,
            "learning_rate": lr,
            "grad_norm": round(gn, 6) if math.isfinite(gn) else gn,
            "tokens_per_s": round(self.tokens / self.time, 1) if self.time else None,
            "train_tokens_per_s": round(self.tokens_trained / self.time, 1) if self.time else None,
            "peak_memory_mb": peak_memory_mb(device),
            "time": now_iso(),
        }


def record_step(run: Run, window: Window, step: int, epoch: float, eval_loss: float | None, lr: float) -> None:
    """A logged step: its metrics.jsonl row, log_history entries, train.log line and status.json fields."""
    row = window.row(step, epoch, eval_loss, lr, run.device)
    if run.is_main:
        with (run.folder / "metrics.jsonl").open("a", encoding="utf-8") as h:
            h.write(json.dumps(row, allow_nan=True) + "\n")
            h.flush()
    run.log_history.append(
        {
            "epoch": epoch,
            "grad_norm": row["grad_norm"],
            "learning_rate": lr,
            "loss": row["loss"],
            "step": step,
            "num_tokens": run.tokens_seen,
        }
    )
    if eval_loss is not None:
        run.log_history.append({"epoch": epoch, "eval_loss": row["eval_loss"], "step": step})
    run.log(
        f"step {step}/{run.total_steps} loss {row['loss']:.4f}"
        + (f" eval_loss {eval_loss:.4f}" if eval_loss is not None else "")
        + f" lr {lr:.3g} grad_norm {window.grad_norm:.3g} tok/s {row['tokens_per_s']}"
    )
    latest = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}
    run.status(step=step, epoch=epoch, latest=latest, best_eval_loss=run.best_eval, tokens_seen=run.tokens_seen)


def trim_metrics(metrics: Path, step: int) -> None:
    """metrics.jsonl keeps only the lines up to the checkpoint, so the log has one row per step after a resume."""
    if not metrics.is_file():
        return
    kept = []
    for line in metrics.read_text("utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except ValueError:
            continue
    write_text_atomic(metrics, "".join(k + "\n" for k in kept))


def resolved_settings(run: Run) -> dict[str, Any]:
    """What the plan became on this machine (``config.json`` ``resolved``): device, cadence, sizes, versions."""
    plan = run.plan
    resolved = {
        "device": run.device,
        "precision": run.precision,
        "batching": run.mode,
        "total_steps": run.total_steps,
        "steps_per_epoch": run.steps_per_epoch,
        "logging_steps": run.log_every,
        "eval_steps": run.eval_every,
        "save_steps": run.save_every,
        "warmup_steps": run.warmup,
        "effective_batch": plan.effective_batch,
        "train_examples": len(run.train_set),
        "eval_examples": len(run.eval_set),
        "trainable_params": sum(p.numel() for p in run.params),
        "total_params": sum(p.numel() for p in run.model.parameters()),
        "data_stats": run.stats,
        "versions": versions(),
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if run.world > 1:
        resolved["num_processes"] = run.world
        resolved["sharding"] = "fsdp" if run.fsdp else "ddp"
    if run.fsdp:
        resolved["fsdp_sharded_layers"] = run.sharded_layers
    return resolved


def record_start(run: Run, start: int, *, resume: bool) -> None:
    """Training starts at ``start``: a fresh metrics.jsonl (kept on resume), the resolved settings in config.json,
    status.json running, and the train.log line of what runs."""
    if not resume and run.is_main:
        (run.folder / "metrics.jsonl").write_text("", "utf-8")
    resolved = resolved_settings(run)
    run.config["resolved"] = resolved
    if run.is_main:
        write_json(run.folder / "config.json", run.config)
    pid = {"pid": os.getpid()} if run.world == 1 else {}  # several processes: keep the launcher's pid
    run.status(
        state="running",
        started_at=now_iso(),
        total_steps=run.total_steps,
        step=start,
        error=None,
        stop_reason=None,
        precision=run.precision,
        device=run.device,
        **pid,
    )
    procs = f", {run.world} processes, {resolved['sharding']}" if run.world > 1 else ""
    run.log(
        f"training {run.plan.base_model} ({run.precision} on {run.device}, {run.mode} batches{procs}): "
        f"{len(run.train_set)} train / {len(run.eval_set)} eval examples, {run.total_steps} steps, "
        f"{resolved['trainable_params']:,} trainable params"
    )


def trainer_state(run: Run, step: int, epoch: float) -> dict[str, Any]:
    """trainer_state.json as HF Trainer writes it (best eval, cadence, log_history)."""
    evals = [r for r in run.log_history if "eval_loss" in r]
    best = min(evals, key=lambda r: r["eval_loss"]) if evals else None
    return {
        "best_global_step": best["step"] if best else None,
        "best_metric": best["eval_loss"] if best else None,
        "best_model_checkpoint": None,
        "epoch": epoch,
        "eval_steps": run.eval_every,
        "global_step": step,
        "is_hyper_param_search": False,
        "is_local_process_zero": True,
        "is_world_process_zero": True,
        "log_history": run.log_history,
        "logging_steps": run.log_every,
        "max_steps": run.total_steps,
        "num_input_tokens_seen": run.tokens_seen,
        "num_train_epochs": math.ceil(run.total_steps / run.steps_per_epoch),
        "save_steps": run.save_every,
        "stateful_callbacks": {},
        "total_flos": 0.0,
        "train_batch_size": run.plan.per_device_batch_size,
        "trial_name": None,
        "trial_params": None,
    }


def write_trainer_state(run: Run, step: int, epoch: float) -> None:
    """The run's final trainer_state.json: the log history and HF's closing summary row."""
    summary = {
        "epoch": epoch,
        "step": step,
        "total_flos": 0.0,
        "train_loss": mean_loss(run.log_history),
        "train_runtime": round(run.train_seconds, 3),
        "train_tokens_per_second": round(run.tokens_seen / run.train_seconds, 1) if run.train_seconds else None,
    }
    state = trainer_state(run, step, epoch)
    state["log_history"] = run.log_history + [summary]
    write_json(run.folder / "trainer_state.json", state)


__all__ = [
    "Window",
    "record_start",
    "record_step",
    "resolved_settings",
    "trainer_state",
    "trim_metrics",
    "write_trainer_state",
]
