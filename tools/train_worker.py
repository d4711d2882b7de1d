"""The training process of a local LoRA/QLoRA run: ``python -m tools.train_worker RUN_DIR [--resume]``.

launch_lora writes ``RUN_DIR/config.json`` and starts this module detached; it trains with
transformers + peft + torch in a plain loop (no Trainer) so that it controls batching, checkpoints,
signals and the watchdog:

- loss on assistant tokens only, summed over the tokens of the whole accumulation window and divided by
  their count (the per-token mean of the effective batch, no gradient-accumulation loss bug);
- AdamW, warm-up then the plan's schedule, gradient clipping, bf16 autocast on CUDA GPUs that support it
  (fp32 on CPU), QLoRA (4-bit NF4 via bitsandbytes) only on CUDA;
- ``metrics.jsonl`` one line per logged step, ``trainer_state.json`` in the HF layout, eval loss every
  ``eval_steps``, ``checkpoint-<step>/`` written to a temporary folder and renamed (atomic), the last K kept;
- SIGTERM/SIGINT: finish the step, checkpoint, save the adapter, end as ``stopped``; ``--resume``
  continues from the last checkpoint with the same batches (orders depend only on seed and epoch) and
  the RNG state, so a killed run reaches the same final adapter;
- a loss watchdog (tools.train_watchdog) stops on NaN/inf, divergence or a loss far above its start; at the
  end tools.train_report writes report.md with the diagnosis of tools.diagnose_loss;
- several processes (``accelerate launch``, WORLD_SIZE > 1): DDP or FSDP2 sharding, see tools.train_distributed;
  checkpoints, the adapter and a stop are collectives that every rank takes part in, rank 0 writes the files.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tools.errors import ToolError
from tools.runs import checkpoints, now_iso, read_json, update_status, write_json
from tools.tiny_model import TINY_MODEL_ID, build_model, build_tokenizer, is_tiny
from tools.train_data import DataStats, Example, batch_plan, collate, count_trained, load_examples, split_eval
from tools.train_distributed import (
    FsdpSettings,
    adapter_keys_to_params,
    check_fsdp,
    destroy_process_group,
    dist_env,
    full_norm,
    gather_optimizer,
    gather_to_main,
    gather_trainable,
    grad_sync,
    init_process_group,
    load_optimizer,
    load_trainable,
    shard,
    sum_grads,
    sum_over_ranks,
)
from tools.train_report import mean_loss, versions, write_report
from tools.train_watchdog import Watchdog
from tools.training_plan import TrainingPlan, cadence, watchdog_thresholds
from tools.workspace import write_text_atomic


class StopRequested(Exception):
    pass


_STOP = {"flag": False}


def _on_signal(signum: int, _frame: Any) -> None:
    _STOP["flag"] = True
    print(f"[{now_iso()}] signal {signum}: stopping cleanly after this step", flush=True)


def request_stop() -> None:
    """Ask an in-process run to stop after its current step (what SIGTERM does to the worker)."""
    _STOP["flag"] = True


# ----------------------------------------------------------------------------- setup


def device_and_precision(plan: TrainingPlan) -> tuple[str, str]:
    """('cuda'|'cpu', 'bf16'|'fp16'|'fp32') for this machine; ToolError when the plan cannot run here."""
    import torch

    cuda = torch.cuda.is_available()
    if plan.method == "qlora" and not cuda:
        raise ToolError("qlora_needs_cuda", "QLoRA (4-bit bitsandbytes) needs a CUDA GPU and none is available",
                        "use method 'lora' on this machine, or run on a machine with an NVIDIA GPU")
    if plan.optimizer != "adamw_torch" and not cuda:
        raise ToolError("optimizer_needs_cuda", f"optimizer {plan.optimizer} needs CUDA and bitsandbytes",
                        "use optimizer 'adamw_torch' on CPU")
    if plan.precision == "auto":
        return ("cuda", "bf16") if cuda and torch.cuda.is_bf16_supported() else ("cuda" if cuda else "cpu", "fp32")
    if plan.precision in {"bf16", "fp16"} and not cuda:
        raise ToolError("precision_needs_cuda", f"precision {plan.precision} needs a CUDA GPU; this machine has none",
                        "use precision 'auto' or 'fp32' on CPU")
    if plan.precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ToolError("bf16_unsupported", "this GPU does not support bf16", "use precision 'fp16' or 'fp32'")
    return ("cuda" if cuda else "cpu"), plan.precision


def load_tokenizer(plan: TrainingPlan) -> Any:
    if is_tiny(plan.base_model):
        return build_tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(plan.base_model)


def load_base(plan: TrainingPlan, tokenizer: Any, device: str, precision: str, *, quantize: bool = True) -> Any:
    import torch

    if is_tiny(plan.base_model):
        return build_model(plan.seed, tokenizer).to(device)
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    kwargs: dict[str, Any] = {"dtype": dtype}
    if plan.method == "qlora" and quantize:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(plan.base_model, **kwargs)
    if not (plan.method == "qlora" and quantize):
        model = model.to(device)
    return model


def attach_lora(model: Any, plan: TrainingPlan) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if plan.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    config = LoraConfig(r=plan.lora_r, lora_alpha=plan.lora_alpha, lora_dropout=plan.lora_dropout,
                        target_modules=plan.peft_targets(), task_type="CAUSAL_LM", bias="none")
    torch.manual_seed(plan.seed)
    return get_peft_model(model, config)


def resolve_batching(plan: TrainingPlan) -> str:
    return "length_grouped" if plan.batching == "auto" else plan.batching


def _mem_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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
        self.train_set, stats = load_examples(Path(data["path"]), self.tokenizer, plan.max_seq_len, label=data.get("label"))
        self.stats: dict[str, Any] = {"train": stats.summary()}
        eval_path = (self.config.get("eval_data") or {}).get("path")
        if eval_path:
            self.eval_set, estats = load_examples(Path(eval_path), self.tokenizer, plan.max_seq_len,
                                                  label=self.config["eval_data"].get("label"))
            self.stats["eval"] = estats.summary()
        else:
            self.train_set, self.eval_set = split_eval(self.train_set, plan.eval_fraction, plan.seed)
        self.mode = resolve_batching(plan)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (self.tokenizer.eos_token_id or 0)
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
            self._epoch_cache = {epoch: batch_plan(self.lengths, self.plan.per_device_batch_size, self.mode,
                                                   self.plan.seed, epoch)}
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
        from transformers import get_scheduler

        plan = self.plan
        # FSDP: load on the CPU; fully_shard moves each layer's shard to the GPU, so no rank holds the whole model there
        base = load_base(plan, self.tokenizer, "cpu" if self.fsdp else self.device, self.precision)
        self.model = attach_lora(base, plan)
        self.sharded_layers = shard(self.model, self.fsdp, self.device) if self.fsdp else []
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if plan.optimizer == "adamw_torch":
            self.optimizer = torch.optim.AdamW(self.params, lr=plan.learning_rate, weight_decay=plan.weight_decay)
        else:  # pragma: no cover - CUDA only
            import bitsandbytes as bnb

            cls = bnb.optim.PagedAdamW8bit if plan.optimizer == "paged_adamw_8bit" else bnb.optim.AdamW8bit
            self.optimizer = cls(self.params, lr=plan.learning_rate, weight_decay=plan.weight_decay)
        self.warmup = math.ceil(plan.warmup_ratio * self.total_steps)
        self.scheduler = get_scheduler(plan.lr_scheduler, self.optimizer, num_warmup_steps=self.warmup,
                                       num_training_steps=self.total_steps)
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None

    def forward_loss_sum(self, batch: dict[str, Any]) -> Any:
        import contextlib

        import torch
        import torch.nn.functional as F

        dev = self.device
        kwargs: dict[str, Any] = {"input_ids": batch["input_ids"].to(dev)}
        if batch["attention_mask"] is not None:
            kwargs["attention_mask"] = batch["attention_mask"].to(dev)
        if batch["position_ids"] is not None:
            kwargs["position_ids"] = batch["position_ids"].to(dev)
        ctx = torch.autocast(device_type=dev, dtype=self.autocast_dtype) if self.autocast_dtype else contextlib.nullcontext()
        with ctx:
            logits = self.model(**kwargs, use_cache=False).logits
        labels = batch["labels"].to(dev)
        return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=-100, reduction="sum")

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
                batch = collate([self.eval_set[j] for j in order[i:i + bs]], self.mode, self.pad_id)
                total += float(self.forward_loss_sum(batch))
                count += count_trained(batch)
        self.model.train()
        return total / max(count, 1)

    # -- state files
    def trainer_state(self, step: int, epoch: float) -> dict[str, Any]:
        evals = [r for r in self.log_history if "eval_loss" in r]
        best = min(evals, key=lambda r: r["eval_loss"]) if evals else None
        return {
            "best_global_step": best["step"] if best else None,
            "best_metric": best["eval_loss"] if best else None,
            "best_model_checkpoint": None,
            "epoch": epoch, "eval_steps": self.eval_every, "global_step": step,
            "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
            "log_history": self.log_history, "logging_steps": self.log_every, "max_steps": self.total_steps,
            "num_input_tokens_seen": self.tokens_seen, "num_train_epochs": math.ceil(self.total_steps / self.steps_per_epoch),
            "save_steps": self.save_every, "stateful_callbacks": {}, "total_flos": 0.0,
            "train_batch_size": self.plan.per_device_batch_size, "trial_name": None, "trial_params": None,
        }

    def rng_state(self) -> dict[str, Any]:
        import random

        import torch

        rng = {"python": random.getstate(), "cpu": torch.get_rng_state()}
        if self.device == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return rng

    def gathered(self) -> tuple[dict[str, Any] | None, dict[str, Any], list[dict[str, Any]]]:
        """(full LoRA weights or None when the model is not sharded, optimizer state, RNG state of each rank).

        A collective with more than one process: every rank calls it, only rank 0 gets the values (dropout draws
        differ per rank, so each rank's RNG is saved, as HF Trainer's rng_state_<rank>.pth)."""
        if self.world == 1:
            return None, self.optimizer.state_dict(), [self.rng_state()]
        rngs = gather_to_main(self.rng_state(), self.rank, self.world) or []
        if self.fsdp:
            return gather_trainable(self.model), gather_optimizer(self.model, self.optimizer), rngs
        return None, self.optimizer.state_dict(), rngs

    def save_checkpoint(self, step: int, epoch: float) -> Path:
        """Write ``checkpoint-<step>/`` atomically; every rank calls it (the state is gathered), rank 0 writes."""
        import torch

        final = self.folder / f"checkpoint-{step}"
        weights, optimizer, rngs = self.gathered()
        if not self.is_main:
            return final
        tmp = self.folder / f".checkpoint-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        self.model.save_pretrained(str(tmp), **({"state_dict": weights} if weights is not None else {}))
        torch.save(optimizer, tmp / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rngs[0], tmp / "rng_state.pth")
        if self.world > 1:
            for r, rng in enumerate(rngs):
                torch.save(rng, tmp / f"rng_state_{r}.pth")
        write_json(tmp / "trainer_state.json", self.trainer_state(step, epoch))
        write_json(tmp / "training_state.json", {
            "step": step, "epoch": epoch, "tokens_seen": self.tokens_seen, "trained_tokens": self.trained_tokens,
            "watchdog": self.watchdog.state() if self.watchdog else None, "train_seconds": self.train_seconds,
            "best_eval_loss": self.best_eval})
        for f in tmp.iterdir():
            with f.open("rb") as h:
                os.fsync(h.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        dirfd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        for _, old in checkpoints(self.folder)[:-self.plan.keep_last_k]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def restore(self) -> int:
        """Load the last checkpoint; the step to continue from (0 when there is none)."""
        import random

        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        found = checkpoints(self.folder)
        if not found:
            return 0
        step, ckpt = found[-1]
        if self.fsdp:
            main = self.is_main
            adapter = load_file(str(ckpt / "adapter_model.safetensors")) if main else {}
            load_trainable(self.model, adapter_keys_to_params(self.model, adapter) if main else {})
            load_optimizer(self.model, self.optimizer, torch.load(ckpt / "optimizer.pt", weights_only=False) if main else {})
        else:
            set_peft_model_state_dict(self.model, load_file(str(ckpt / "adapter_model.safetensors")))
            self.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
        self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
        own = ckpt / f"rng_state_{self.rank}.pth"
        rng = torch.load(own if own.is_file() else ckpt / "rng_state.pth", weights_only=False)
        random.setstate(rng["python"])
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and self.device == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        state = read_json(ckpt / "training_state.json")
        self.tokens_seen = int(state.get("tokens_seen", 0))
        self.trained_tokens = int(state.get("trained_tokens", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.best_eval = state.get("best_eval_loss")
        if self.watchdog and state.get("watchdog"):
            self.watchdog = Watchdog(watchdog_thresholds(), state["watchdog"])
        self.log_history = [r for r in read_json(ckpt / "trainer_state.json").get("log_history", []) if r.get("step", 0) <= step]
        if self.is_main:
            _trim_metrics(self.folder / "metrics.jsonl", step)
        if self.world > 1:
            self.seen = [self.batch_indices(k) for s in range(step) for k in self.step_batches(s)]
        self.log(f"resumed from {ckpt.name}")
        return step

    def write_metrics(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with (self.folder / "metrics.jsonl").open("a", encoding="utf-8") as h:
            h.write(json.dumps(row, allow_nan=True) + "\n")
            h.flush()

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
        start = self.restore() if resume else 0
        if not resume and self.is_main:
            (self.folder / "metrics.jsonl").write_text("", "utf-8")
        resolved = {
            "device": self.device, "precision": self.precision, "batching": self.mode,
            "total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
            "logging_steps": self.log_every, "eval_steps": self.eval_every, "save_steps": self.save_every,
            "warmup_steps": self.warmup, "effective_batch": plan.effective_batch,
            "train_examples": len(self.train_set), "eval_examples": len(self.eval_set),
            "trainable_params": sum(p.numel() for p in self.params),
            "total_params": sum(p.numel() for p in self.model.parameters()),
            "data_stats": self.stats,
            "versions": versions(), "python": platform.python_version(), "host": platform.node(),
        }
        if self.world > 1:
            resolved["num_processes"] = self.world
            resolved["sharding"] = "fsdp" if self.fsdp else "ddp"
        if self.fsdp:
            resolved["fsdp_sharded_layers"] = self.sharded_layers
        self.config["resolved"] = resolved
        if self.is_main:
            write_json(self.folder / "config.json", self.config)
        pid = {"pid": os.getpid()} if self.world == 1 else {}  # several processes: keep the launcher's pid
        self.status(state="running", started_at=now_iso(), total_steps=self.total_steps, step=start, error=None,
                    stop_reason=None, precision=self.precision, device=self.device, **pid)
        procs = f", {self.world} processes, {resolved['sharding']}" if self.world > 1 else ""
        self.log(f"training {plan.base_model} ({self.precision} on {self.device}, {self.mode} batches{procs}): "
                 f"{len(self.train_set)} train / {len(self.eval_set)} eval examples, {self.total_steps} steps, "
                 f"{resolved['trainable_params']:,} trainable params")
        self.model.train()
        accum = plan.gradient_accumulation_steps
        win_loss = win_tokens_trained = win_tokens = 0.0
        win_time = 0.0
        win_gn = 0.0
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
                loss = self.forward_loss_sum(b)
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
            win_loss += loss_sum
            win_tokens_trained += n_trained
            win_tokens += tokens
            win_time += dt
            win_gn = grad_norm
            epoch = round(step * accum * self.world / self.batches_per_epoch, 4)
            if self.watchdog:
                stop_reason = self.watchdog.check(step, step_loss, grad_norm)
            do_eval = stop_reason is None and (step % self.eval_every == 0 or step == self.total_steps)
            do_log = stop_reason is not None or do_eval or step % self.log_every == 0 or step == self.total_steps or self.stop_flag
            eval_loss = self.evaluate() if do_eval else None
            if eval_loss is not None:
                self.best_eval = eval_loss if self.best_eval is None else min(self.best_eval, eval_loss)
            if do_log:
                mean_loss = win_loss / max(win_tokens_trained, 1) if math.isfinite(win_loss) else win_loss
                row = {"step": step, "epoch": epoch, "loss": round(mean_loss, 6) if math.isfinite(mean_loss) else mean_loss,
                       "eval_loss": round(eval_loss, 6) if eval_loss is not None else None,
                       "learning_rate": lr, "grad_norm": round(win_gn, 6) if math.isfinite(win_gn) else win_gn,
                       "tokens_per_s": round(win_tokens / win_time, 1) if win_time else None,
                       "train_tokens_per_s": round(win_tokens_trained / win_time, 1) if win_time else None,
                       "peak_memory_mb": _mem_mb(self.device), "time": now_iso()}
                self.write_metrics(row)
                self.log_history.append({"epoch": epoch, "grad_norm": row["grad_norm"], "learning_rate": lr,
                                         "loss": row["loss"], "step": step, "num_tokens": self.tokens_seen})
                if eval_loss is not None:
                    self.log_history.append({"epoch": epoch, "eval_loss": row["eval_loss"], "step": step})
                self.log(f"step {step}/{self.total_steps} loss {row['loss']:.4f}"
                         + (f" eval_loss {eval_loss:.4f}" if eval_loss is not None else "")
                         + f" lr {lr:.3g} grad_norm {win_gn:.3g} tok/s {row['tokens_per_s']}")
                latest = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}
                self.status(step=step, epoch=epoch, latest=latest, best_eval_loss=self.best_eval,
                            tokens_seen=self.tokens_seen)
                last_status = time.monotonic()
                win_loss = win_tokens_trained = win_tokens = win_time = 0.0
            elif time.monotonic() - last_status > 1.0:
                self.status(step=step, epoch=epoch)
                last_status = time.monotonic()
            if stop_reason is not None:
                break
            stop = self.stop_flag if self.world == 1 else self.reduce([float(self.stop_flag)])[0] > 0
            if stop and step < self.total_steps:
                raise StopRequested(step)
            if step % self.save_every == 0 and step < self.total_steps:
                self.save_checkpoint(step, epoch)
        return {"step": step, "epoch": round(step * accum * self.world / self.batches_per_epoch, 4), "watchdog": stop_reason}

    def save_adapter(self, name: str = "adapter") -> Path:
        """Write ``adapter/``; every rank calls it (under FSDP the full weights are gathered), rank 0 writes."""
        final = self.folder / name
        weights = gather_trainable(self.model) if self.fsdp else None
        if not self.is_main:
            return final
        tmp = self.folder / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save_pretrained(str(tmp), **({"state_dict": weights} if weights is not None else {}))
        self.tokenizer.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def merge(self) -> Path:
        """Base weights + adapter -> merged/ (full precision base, never onto a 4-bit base; on the CPU after FSDP,
        whose model may not fit one GPU)."""
        from peft import PeftModel

        precision = "fp32" if self.device == "cpu" else self.precision
        base = load_base(self.plan, self.tokenizer, "cpu" if self.fsdp else self.device, precision, quantize=False)
        merged = PeftModel.from_pretrained(base, str(self.folder / "adapter")).merge_and_unload()
        final = self.folder / "merged"
        tmp = self.folder / ".merged.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        merged.save_pretrained(str(tmp))
        self.tokenizer.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def finish_files(self, step: int, epoch: float) -> None:
        summary = {"epoch": epoch, "step": step, "total_flos": 0.0, "train_loss": mean_loss(self.log_history),
                   "train_runtime": round(self.train_seconds, 3),
                   "train_tokens_per_second": round(self.tokens_seen / self.train_seconds, 1) if self.train_seconds else None}
        state = self.trainer_state(step, epoch)
        state["log_history"] = self.log_history + [summary]
        write_json(self.folder / "trainer_state.json", state)


def _trim_metrics(metrics: Path, step: int) -> None:
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
        write_json(run.folder / "ranks" / f"rank-{run.rank}.json",
                   {"rank": run.rank, "world_size": run.world, "micro_batches": run.seen})


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
        return update_status(folder, state="failed", error=f"{exc.code}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""),
                             finished_at=now_iso())
    except Exception as exc:  # noqa: BLE001 - every failure ends up in status.json
        if not run.is_main:
            raise
        traceback.print_exc()
        return update_status(folder, state="failed", error=f"{type(exc).__name__}: {str(exc)[:500]}",
                             finished_at=now_iso())
    return _end_completed(run, result)


def _end_stopped(run: Run, step: int) -> dict[str, Any]:
    """SIGTERM: checkpoint and adapter at ``step`` (every rank takes part in gathering them), end as stopped."""
    epoch = round(step * run.plan.gradient_accumulation_steps * run.world / run.batches_per_epoch, 4)
    run.save_checkpoint(step, epoch)
    run.save_adapter()
    _worker_rank_file(run)
    if not run.is_main:
        return {"state": "stopped", "rank": run.rank}
    run.finish_files(step, epoch)
    update_status(run.folder, step=step, stop_reason="stopped by request (SIGTERM)")
    write_report(run.folder, "stopped")
    return update_status(run.folder, state="stopped", finished_at=now_iso())


def _end_completed(run: Run, result: dict[str, Any]) -> dict[str, Any]:
    step, epoch, folder = result["step"], result["epoch"], run.folder
    _worker_rank_file(run)
    if result["watchdog"]:
        if not run.is_main:
            return {"state": "stopped", "rank": run.rank}
        run.finish_files(step, epoch)
        update_status(folder, stop_reason="watchdog", error=result["watchdog"])
        print(f"[{now_iso()}] watchdog stopped the run: {result['watchdog']}", flush=True)
        write_report(folder, "stopped")
        return update_status(folder, state="stopped", finished_at=now_iso())
    run.save_adapter()
    if not run.is_main:
        return {"state": "completed", "rank": run.rank}
    run.finish_files(step, epoch)
    if run.config.get("merge"):
        run.merge()
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
        print("usage: python -m tools.train_worker RUN_DIR [--resume]", file=sys.stderr)
        return 2
    folder = Path(paths[0]).resolve()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = run_folder(folder, resume=resume, reset_stop=False)
    return 0 if status.get("state") in {"completed", "stopped"} else 1


__all__ = ["Run", "Watchdog", "TINY_MODEL_ID", "device_and_precision", "main", "run_folder", "write_report",
           "DataStats", "Example"]


if __name__ == "__main__":
    sys.exit(main())
