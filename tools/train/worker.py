"""The training process of a local LoRA/QLoRA run: ``python -m tools.train.worker RUN_DIR [--resume]``.

launch_lora writes ``RUN_DIR/config.json`` and starts this module detached; it trains with
transformers + peft + torch in a plain loop (no Trainer) so that it controls batching, checkpoints,
signals and the watchdog:

- loss on assistant tokens only, summed over the tokens of the whole accumulation window and divided by
  their count (the per-token mean of the effective batch, no gradient-accumulation loss bug);
- AdamW, warm-up then the plan's schedule, gradient clipping, bf16 autocast on CUDA GPUs that support it
  (fp32 on CPU), QLoRA (4-bit NF4 via bitsandbytes) only on CUDA: the model in tools.train.model;
- ``metrics.jsonl`` one line per logged step, ``trainer_state.json`` in the HF layout (tools.train.metrics),
  eval loss every ``eval_steps``, ``checkpoint-<step>/`` written to a temporary folder and renamed (atomic),
  the last K kept (tools.train.checkpoint);
- SIGTERM/SIGINT: finish the step, checkpoint, save the adapter, end as ``stopped``; ``--resume``
  continues from the last checkpoint with the same batches (orders depend only on seed and epoch) and
  the RNG state, so a killed run reaches the same final adapter;
- a loss watchdog (tools.train.watchdog) stops on NaN/inf, divergence or a loss far above its start; at the
  end tools.train.report writes report.md with the diagnosis of tools.diagnose.diagnose_loss;
- several processes (``accelerate launch``, WORLD_SIZE > 1): DDP or FSDP2 sharding, see tools.train.distributed;
  checkpoints, the adapter and a stop are collectives that every rank takes part in, rank 0 writes the files.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.local_models.tiny import TINY_MODEL_ID
from tools.plan.training_plan import TrainingPlan, cadence, watchdog_thresholds
from tools.train.checkpoint import merge, restore, save_adapter, save_checkpoint
from tools.train.data import DataStats, Example, batch_plan, collate, count_trained, load_examples, split_eval
from tools.train.distributed import (
    FsdpSettings,
    check_fsdp,
    destroy_process_group,
    dist_env,
    full_norm,
    gather_to_main,
    grad_sync,
    init_process_group,
    shard,
    sum_grads,
    sum_over_ranks,
)
from tools.train.metrics import Window, record_start, record_step, write_trainer_state
from tools.train.model import (
    attach_lora,
    batch_loss_sum,
    device_and_precision,
    load_base,
    load_tokenizer,
    make_optimizer,
    resolve_batching,
)
from tools.train.report import write_report
from tools.train.runs import now_iso, read_json, update_status, write_json
from tools.train.watchdog import Watchdog


class StopRequested(Exception):
    pass


_STOP = {"flag": False}


def _on_signal(signum: int, _frame: Any) -> None:
    _STOP["flag"] = True
    print(f"[{now_iso()}] signal {signum}: stopping cleanly after this step", flush=True)


def request_stop() -> None:
    """Ask an in-process run to stop after its current step (what SIGTERM does to the worker)."""
    _STOP["flag"] = True


# ----------------------------------------------------------------------------- the trainer


class Run:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = read_json(folder / "config.json")
        if not self.config:
            raise ToolError("run_config_missing", f"{folder}/config.json is missing or invalid", "launch the run again")
        self.plan = TrainingPlan.model_validate(self.config["plan"])
        # More than one process (accelerate launch): rank r takes every world-th micro-batch of the same
        # seeded order, gradients are summed over ranks (gloo on CPU, nccl on GPUs), rank 0 writes the files.
        self.rank, self.world = dist_env()
        self.is_main = self.rank == 0
        self.seen: list[list[int]] = []
        sharded = self.world > 1 and self.config.get("sharding") == "fsdp"
        self.fsdp = FsdpSettings.model_validate(self.config.get("fsdp") or {}) if sharded else None

    def status(self, **changes: Any) -> None:
        if self.is_main:
            update_status(self.folder, **changes)

    def log(self, message: str) -> None:
        """A line of train.log, from rank 0 only (every rank writes to the same log)."""
        if self.is_main:
            print(f"[{now_iso()}] {message}", flush=True)

    def reduce(self, values: list[float]) -> list[float]:
        """Sums of ``values`` over every rank (the values themselves in one process)."""
        return values if self.world == 1 else sum_over_ranks(values)

    def sync_grads(self) -> None:
        """Sum the LoRA gradients over ranks: each rank scaled its loss by the global trained-token count.
        Under FSDP the reduce-scatter of the backward pass already did it."""
        if self.world > 1 and not self.fsdp:
            sum_grads(self.params)

    @property
    def stop_flag(self) -> bool:
        return _STOP["flag"]

    # -- data
    def prepare(self) -> None:
        import torch

        plan = self.plan
        torch.manual_seed(plan.seed)
        self.device, self.precision = device_and_precision(plan)
        if self.fsdp:
            check_fsdp(plan.method, self.precision, self.world)
        self.tokenizer = load_tokenizer(plan)
        data = self.config["data"]
        self.train_set, stats = load_examples(
            Path(data["path"]), self.tokenizer, plan.max_seq_len, label=data.get("label")
        )
        self.stats: dict[str, Any] = {"train": stats.summary()}
        eval_path = (self.config.get("eval_data") or {}).get("path")
        if eval_path:
            self.eval_set, estats = load_examples(
                Path(eval_path), self.tokenizer, plan.max_seq_len, label=self.config["eval_data"].get("label")
            )
            self.stats["eval"] = estats.summary()
        else:
            self.train_set, self.eval_set = split_eval(self.train_set, plan.eval_fraction, plan.seed)
        self.mode = resolve_batching(plan)
        self.pad_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else (self.tokenizer.eos_token_id or 0)
        )
        self.lengths = [len(e.input_ids) for e in self.train_set]
        self.batches_per_epoch = math.ceil(len(self.train_set) / plan.per_device_batch_size)
        accum = plan.gradient_accumulation_steps
        self.steps_per_epoch = max(1, math.ceil(self.batches_per_epoch / (accum * self.world)))
        self.total_steps = plan.max_steps or max(1, math.ceil(self.steps_per_epoch * plan.num_epochs))
        self.log_every, self.eval_every, self.save_every = cadence(self.total_steps, plan)
        self._epoch_cache: dict[int, list[list[int]]] = {}

    def batch_indices(self, k: int) -> list[int]:
        """The example indices of global micro-batch ``k``: they depend only on the seed and the epoch."""
        epoch, idx = divmod(k, self.batches_per_epoch)
        if epoch not in self._epoch_cache:
            self._epoch_cache = {
                epoch: batch_plan(self.lengths, self.plan.per_device_batch_size, self.mode, self.plan.seed, epoch)
            }
        return list(self._epoch_cache[epoch][idx])

    def step_batches(self, step: int) -> list[int]:
        """The global micro-batches this rank trains in optimizer step ``step`` (0-based)."""
        accum = self.plan.gradient_accumulation_steps
        return [(step * accum + j) * self.world + self.rank for j in range(accum)]

    def micro_batch(self, k: int) -> dict[str, Any]:
        indices = self.batch_indices(k)
        if self.world > 1:
            self.seen.append(indices)
        return collate([self.train_set[i] for i in indices], self.mode, self.pad_id)

    # -- model
    def build(self) -> None:
        import torch

        plan = self.plan
        # FSDP: load on the CPU; fully_shard moves each layer's shard to the GPU, so no rank holds the whole model there
        base = load_base(plan, self.tokenizer, "cpu" if self.fsdp else self.device, self.precision)
        self.model = attach_lora(base, plan)
        self.sharded_layers = shard(self.model, self.fsdp, self.device) if self.fsdp else []
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer, self.warmup, self.scheduler = make_optimizer(self.params, plan, self.total_steps)
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None

    def evaluate(self) -> float | None:
        import torch

        if not self.eval_set:
            return None
        self.model.eval()
        total, count = 0.0, 0
        order = sorted(range(len(self.eval_set)), key=lambda i: len(self.eval_set[i].input_ids))
        bs = self.plan.per_device_batch_size
        with torch.no_grad():
            for i in range(0, len(order), bs):
                batch = collate([self.eval_set[j] for j in order[i : i + bs]], self.mode, self.pad_id)
                total += float(batch_loss_sum(self.model, batch, self.device, self.autocast_dtype))
                count += count_trained(batch)
        self.model.train()
        return total / max(count, 1)

    # -- main loop
    def train(self, *, resume: bool) -> dict[str, Any]:
        import torch

        plan = self.plan
        self.prepare()
        self.build()
        self.log_history: list[dict[str, Any]] = []
        self.tokens_seen = 0
        self.padded_seen = 0
        self.trained_tokens = 0
        self.train_seconds = 0.0
        self.best_eval: float | None = None
        self.watchdog = Watchdog(watchdog_thresholds()) if plan.watchdog else None
        start = restore(self) if resume else 0
        record_start(self, start, resume=resume)
        self.model.train()
        accum = plan.gradient_accumulation_steps
        window = Window()
        last_status = 0.0
        step = start
        stop_reason: str | None = None
        while step < self.total_steps:
            t0 = time.perf_counter()
            batches = [self.micro_batch(k) for k in self.step_batches(step)]
            n_trained = sum(count_trained(b) for b in batches)
            if self.world > 1:
                n_trained = int(self.reduce([float(n_trained)])[0])
            self.optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for i, b in enumerate(batches):
                grad_sync(self.model, i == len(batches) - 1)
                loss = batch_loss_sum(self.model, b, self.device, self.autocast_dtype)
                scaled = loss / max(n_trained, 1)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
                loss_sum += float(loss.detach())
            self.sync_grads()
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            grad_norm = full_norm(torch.nn.utils.clip_grad_norm_(self.params, plan.max_grad_norm))
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            lr = self.scheduler.get_last_lr()[0]
            self.scheduler.step()
            step += 1
            dt = time.perf_counter() - t0
            tokens = sum(b["tokens"] for b in batches)
            if self.world > 1:
                loss_sum, tokens_f = self.reduce([loss_sum, float(tokens)])
                tokens = int(tokens_f)
            self.tokens_seen += tokens
            self.padded_seen += sum(b["padded_tokens"] for b in batches)
            self.trained_tokens += n_trained
            self.train_seconds += dt
            step_loss = loss_sum / max(n_trained, 1)
            window.add(loss_sum, n_trained, tokens, dt, grad_norm)
            epoch = round(step * accum * self.world / self.batches_per_epoch, 4)
            if self.watchdog:
                stop_reason = self.watchdog.check(step, step_loss, grad_norm)
            do_eval = stop_reason is None and (step % self.eval_every == 0 or step == self.total_steps)
            do_log = (
                stop_reason is not None
                or do_eval
                or step % self.log_every == 0
                or step == self.total_steps
                or self.stop_flag
            )
            eval_loss = self.evaluate() if do_eval else None
            if eval_loss is not None:
                self.best_eval = eval_loss if self.best_eval is None else min(self.best_eval, eval_loss)
            if do_log:
                record_step(self, window, step, epoch, eval_loss, lr)
                last_status = time.monotonic()
                window = Window()
            elif time.monotonic() - last_status > 1.0:
                self.status(step=step, epoch=epoch)
                last_status = time.monotonic()
            if stop_reason is not None:
                break
            stop = self.stop_flag if self.world == 1 else self.reduce([float(self.stop_flag)])[0] > 0
            if stop and step < self.total_steps:
                raise StopRequested(step)
            if step % self.save_every == 0 and step < self.total_steps:
                save_checkpoint(self, step, epoch)
        return {
            "step": step,
            "epoch": round(step * accum * self.world / self.batches_per_epoch, 4),
            "watchdog": stop_reason,
        }


# ----------------------------------------------------------------------------- the process


def run_folder(folder: Path, *, resume: bool = False, reset_stop: bool = True) -> dict[str, Any]:
    """Train the run in ``folder`` in this process; returns the final status.

    Under ``accelerate launch`` (WORLD_SIZE > 1) every process calls this: they join one process group,
    rank 0 records every rank's pid in status.json (``worker_pids``: stop_run signals them, run_status
    watches them), each trains on its share of the batches, and only rank 0 writes status, checkpoints and
    the adapter; each rank records the example indices it trained on in ``ranks/rank-<r>.json``."""
    if reset_stop:
        _STOP["flag"] = False
    folder = folder.resolve()
    rank, world = dist_env()
    if world == 1:
        return _run_folder(folder, resume)
    init_process_group(rank)
    try:
        pids = gather_to_main(os.getpid(), rank, world)
        if pids:
            update_status(folder, worker_pids=pids)
        return _run_folder(folder, resume)
    finally:
        destroy_process_group()


def _worker_rank_file(run: Run) -> None:
    if run.world > 1:
        (run.folder / "ranks").mkdir(exist_ok=True)
        write_json(
            run.folder / "ranks" / f"rank-{run.rank}.json",
            {"rank": run.rank, "world_size": run.world, "micro_batches": run.seen},
        )


def _run_folder(folder: Path, resume: bool) -> dict[str, Any]:
    run = Run(folder)
    if run.is_main:
        update_status(folder, state="running", error=None, **({"pid": os.getpid()} if run.world == 1 else {}))
    try:
        result = run.train(resume=resume)
    except StopRequested as stop:
        return _end_stopped(run, int(str(stop.args[0])))
    except ToolError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr, flush=True)
        if not run.is_main:
            return {"state": "failed", "rank": run.rank}
        return update_status(
            folder,
            state="failed",
            error=f"{exc.code}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
            finished_at=now_iso(),
        )
    except Exception as exc:  # noqa: BLE001 - every failure ends up in status.json
        if not run.is_main:
            raise
        traceback.print_exc()
        return update_status(
            folder, state="failed", error=f"{type(exc).__name__}: {str(exc)[:500]}", finished_at=now_iso()
        )
    return _end_completed(run, result)


def _end_stopped(run: Run, step: int) -> dict[str, Any]:
    """SIGTERM: checkpoint and adapter at ``step`` (every rank takes part in gathering them), end as stopped."""
    epoch = round(step * run.plan.gradient_accumulation_steps * run.world / run.batches_per_epoch, 4)
    save_checkpoint(run, step, epoch)
    save_adapter(run)
    _worker_rank_file(run)
    if not run.is_main:
        return {"state": "stopped", "rank": run.rank}
    write_trainer_state(run, step, epoch)
    update_status(run.folder, step=step, stop_reason="stopped by request (SIGTERM)")
    write_report(run.folder, "stopped")
    return update_status(run.folder, state="stopped", finished_at=now_iso())


def _end_completed(run: Run, result: dict[str, Any]) -> dict[str, Any]:
    step, epoch, folder = result["step"], result["epoch"], run.folder
    _worker_rank_file(run)
    if result["watchdog"]:
        if not run.is_main:
            return {"state": "stopped", "rank": run.rank}
        write_trainer_state(run, step, epoch)
        update_status(folder, stop_reason="watchdog", error=result["watchdog"])
        print(f"[{now_iso()}] watchdog stopped the run: {result['watchdog']}", flush=True)
        write_report(folder, "stopped")
        return update_status(folder, state="stopped", finished_at=now_iso())
    save_adapter(run)
    if not run.is_main:
        return {"state": "completed", "rank": run.rank}
    write_trainer_state(run, step, epoch)
    if run.config.get("merge"):
        merge(run)
    update_status(folder, step=step, adapter="adapter")
    write_report(folder, "completed")
    status = update_status(folder, state="completed", finished_at=now_iso())
    print(f"[{now_iso()}] completed: {step} steps; adapter in {folder / 'adapter'}", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 1:
        print("usage: python -m tools.train.worker RUN_DIR [--resume]", file=sys.stderr)
        return 2
    folder = Path(paths[0]).resolve()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = run_folder(folder, resume=resume, reset_stop=False)
    return 0 if status.get("state") in {"completed", "stopped"} else 1


__all__ = [
    "Run",
    "Watchdog",
    "TINY_MODEL_ID",
    "device_and_precision",
    "main",
    "run_folder",
    "write_report",
    "DataStats",
    "Example",
]


if __name__ == "__main__":
    sys.exit(main())
