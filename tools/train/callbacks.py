"""The run contract as TrainerCallbacks: metrics.jsonl rows, status.json, the loss watchdog, a clean stop on SIGTERM.

- :class:`RunCallback` writes one ``metrics.jsonl`` row per logged step (the train loss, and the eval loss of
  the same step when one is due), updates ``status.json``, and feeds the watchdog (tools.train.watchdog, the
  thresholds of reference/data/lora_defaults.yaml), which ends the run without an adapter when the loss
  diverges. A row is written before the checkpoint of its step, so a resume from that checkpoint keeps it.
- A stop request (SIGTERM, stop_run) is honoured at the end of the current step: the Trainer writes a
  checkpoint and ``train()`` returns. With several processes the ranks agree on the step (a max over ranks),
  so none waits on the others.

Only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tools.train.runs import now_iso, update_status
from tools.train.watchdog import Watchdog

STOP = {"flag": False}
RUN_STATE = "finetune_state.json"


def request_stop() -> None:
    """Ask the run in this process to stop after its current step (what SIGTERM does to the worker)."""
    STOP["flag"] = True


def peak_memory_mb() -> float:
    import resource

    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _finite(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) and math.isfinite(v) else v


def _stop_agreed(world: int) -> bool:
    if world == 1:
        return STOP["flag"]
    import torch
    import torch.distributed as dist

    flag = torch.tensor([1.0 if STOP["flag"] else 0.0])
    if dist.get_backend() == "nccl":
        flag = flag.cuda()
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


class RunCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(self, folder: Path, watchdog: Watchdog | None, rank: int, world: int) -> None:
        self.folder, self.watchdog, self.rank, self.world = folder, watchdog, rank, world
        self.pending: dict[str, Any] | None = None
        self.watchdog_reason: str | None = None
        self.stopped_by_request = False
        self.best_eval: float | None = None
        self.tokens_seen = 0
        self.window_start = time.perf_counter()
        self.window_tokens = 0
        self.window_trained = 0
        self.last_status = 0.0

    # -- counting
    def count(self, inputs: Any) -> None:
        if not isinstance(inputs, dict):
            return  # GRPO's steps take generated rollouts; its own logs count completion tokens
        mask = inputs.get("attention_mask")
        ids = inputs.get("input_ids")
        tokens = int(mask.sum()) if mask is not None else int(ids.numel()) if ids is not None else 0
        labels, completion = inputs.get("labels"), inputs.get("completion_mask")
        if labels is not None:
            trained = int((labels[:, 1:] != -100).sum())
        else:
            trained = int(completion.sum()) if completion is not None else tokens
        self.window_tokens += tokens
        self.window_trained += trained
        self.tokens_seen += tokens

    # -- rows
    def _write(self, row: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        with (self.folder / "metrics.jsonl").open("a", encoding="utf-8") as h:
            h.write(json.dumps(row, allow_nan=True) + "\n")
        latest = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}
        update_status(
            self.folder,
            step=row["step"],
            epoch=row.get("epoch"),
            latest=latest,
            best_eval_loss=self.best_eval,
            tokens_seen=self.tokens_seen,
        )
        self.last_status = time.monotonic()

    def _train_row(self, state: Any, logs: dict[str, Any]) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.window_start
        row = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            "loss": _finite(float(logs["loss"])),
            "eval_loss": None,
            "learning_rate": logs.get("learning_rate"),
            "grad_norm": _finite(float(logs["grad_norm"])) if logs.get("grad_norm") is not None else None,
            "tokens_per_s": round(self.window_tokens / elapsed, 1) if elapsed else None,
            "train_tokens_per_s": round(self.window_trained / elapsed, 1) if elapsed else None,
            "peak_memory_mb": peak_memory_mb(),
            "time": now_iso(),
        }
        extra = {k: _finite(v) for k, v in logs.items() if k not in row and isinstance(v, (int, float))}
        self.window_start, self.window_tokens, self.window_trained = time.perf_counter(), 0, 0
        return {**row, **extra}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.rank == 0:
            update_status(self.folder, total_steps=state.max_steps, step=state.global_step)
        self.window_start = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        logs = logs or {}
        if "loss" in logs:
            row = self._train_row(state, logs)
            if self.watchdog is not None and self.watchdog_reason is None:
                gn = row["grad_norm"] if isinstance(row["grad_norm"], float) else 0.0
                self.watchdog_reason = self.watchdog.check(state.global_step, float(logs["loss"]), gn)
                if self.watchdog_reason:
                    control.should_training_stop = True
                    control.should_save = False
                    control.should_evaluate = False
            if control.should_evaluate:
                self.pending = row
            else:
                self._write(row)
        if "eval_loss" in logs:
            value = float(logs["eval_loss"])
            self.best_eval = value if self.best_eval is None else min(self.best_eval, value)
            row = self.pending or {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            row["eval_loss"] = _finite(value)
            self.pending = None
            self._write(row)

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if _stop_agreed(self.world):
            self.stopped_by_request = True
            control.should_save = True
            control.should_training_stop = True
            control.should_log = True
        elif self.rank == 0 and time.monotonic() - self.last_status > 1.0:
            update_status(self.folder, step=state.global_step, epoch=round(state.epoch or 0.0, 4))
            self.last_status = time.monotonic()

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.rank == 0:
            ckpt = self.folder / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                extra = {"watchdog": self.watchdog.state() if self.watchdog else None, "best_eval_loss": self.best_eval}
                (ckpt / RUN_STATE).write_text(json.dumps(extra) + "\n", "utf-8")

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.pending is not None:
            self._write(self.pending)
            self.pending = None


def make_callback(folder: Path, watchdog: Watchdog | None, rank: int, world: int) -> RunCallback:
    return RunCallback(folder, watchdog, rank, world)


__all__ = ["RUN_STATE", "RunCallback", "STOP", "make_callback", "peak_memory_mb", "request_stop"]
