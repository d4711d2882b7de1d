"""The weights a local run writes and reads back: ``checkpoint-<step>/`` (LoRA weights, optimizer, scheduler, the
RNG state of every rank, trainer_state.json and training_state.json; the last K kept), ``adapter/`` and
``merged/``. Each is written to a temporary folder and renamed, so a killed run never leaves half of one.

With several processes saving is a collective: every rank calls it (under FSDP the full LoRA weights and
optimizer state are gathered), rank 0 writes the files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.plan.training_plan import watchdog_thresholds
from tools.train.distributed import (
    adapter_keys_to_params,
    gather_optimizer,
    gather_to_main,
    gather_trainable,
    load_optimizer,
    load_trainable,
)
from tools.train.metrics import trainer_state, trim_metrics
from tools.train.model import load_base
from tools.train.runs import checkpoints, read_json, write_json
from tools.train.watchdog import Watchdog

if TYPE_CHECKING:
    from tools.train.worker import Run


def _replace_folder(tmp: Path, final: Path) -> None:
    """Put the finished ``tmp`` folder in the place of ``final`` (rename: atomic on one file system)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def rng_state(device: str) -> dict[str, Any]:
    import random

    import torch

    rng = {"python": random.getstate(), "cpu": torch.get_rng_state()}
    if device == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def gathered(run: Run) -> tuple[dict[str, Any] | None, dict[str, Any], list[dict[str, Any]]]:
    """(full LoRA weights or None when the model is not sharded, optimizer state, RNG state of each rank).

    A collective with more than one process: every rank calls it, only rank 0 gets the values (dropout draws
    differ per rank, so each rank's RNG is saved, as HF Trainer's rng_state_<rank>.pth)."""
    if run.world == 1:
        return None, run.optimizer.state_dict(), [rng_state(run.device)]
    rngs = gather_to_main(rng_state(run.device), run.rank, run.world) or []
    if run.fsdp:
        return gather_trainable(run.model), gather_optimizer(run.model, run.optimizer), rngs
    return None, run.optimizer.state_dict(), rngs


def save_checkpoint(run: Run, step: int, epoch: float) -> Path:
    """Write ``checkpoint-<step>/`` atomically; every rank calls it (the state is gathered), rank 0 writes."""
    import torch

    final = run.folder / f"checkpoint-{step}"
    weights, optimizer, rngs = gathered(run)
    if not run.is_main:
        return final
    tmp = run.folder / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    run.model.save_pretrained(str(tmp), **({"state_dict": weights} if weights is not None else {}))
    torch.save(optimizer, tmp / "optimizer.pt")
    torch.save(run.scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(rngs[0], tmp / "rng_state.pth")
    if run.world > 1:
        for r, rng in enumerate(rngs):
            torch.save(rng, tmp / f"rng_state_{r}.pth")
    write_json(tmp / "trainer_state.json", trainer_state(run, step, epoch))
    write_json(
        tmp / "training_state.json",
        {
            "step": step,
            "epoch": epoch,
            "tokens_seen": run.tokens_seen,
            "trained_tokens": run.trained_tokens,
            "watchdog": run.watchdog.state() if run.watchdog else None,
            "train_seconds": run.train_seconds,
            "best_eval_loss": run.best_eval,
        },
    )
    for f in tmp.iterdir():
        with f.open("rb") as h:
            os.fsync(h.fileno())
    _replace_folder(tmp, final)
    dirfd = os.open(run.folder, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    for _, old in checkpoints(run.folder)[: -run.plan.keep_last_k]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def restore(run: Run) -> int:
    """Load the last checkpoint into ``run``; the step to continue from (0 when there is none)."""
    import random

    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    found = checkpoints(run.folder)
    if not found:
        return 0
    step, ckpt = found[-1]
    if run.fsdp:
        main = run.is_main
        adapter = load_file(str(ckpt / "adapter_model.safetensors")) if main else {}
        load_trainable(run.model, adapter_keys_to_params(run.model, adapter) if main else {})
        load_optimizer(run.model, run.optimizer, torch.load(ckpt / "optimizer.pt", weights_only=False) if main else {})
    else:
        set_peft_model_state_dict(run.model, load_file(str(ckpt / "adapter_model.safetensors")))
        run.optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=False))
    run.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=False))
    own = ckpt / f"rng_state_{run.rank}.pth"
    rng = torch.load(own if own.is_file() else ckpt / "rng_state.pth", weights_only=False)
    random.setstate(rng["python"])
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and run.device == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
    state = read_json(ckpt / "training_state.json")
    run.tokens_seen = int(state.get("tokens_seen", 0))
    run.trained_tokens = int(state.get("trained_tokens", 0))
    run.train_seconds = float(state.get("train_seconds", 0.0))
    run.best_eval = state.get("best_eval_loss")
    if run.watchdog and state.get("watchdog"):
        run.watchdog = Watchdog(watchdog_thresholds(), state["watchdog"])
    run.log_history = [
        r for r in read_json(ckpt / "trainer_state.json").get("log_history", []) if r.get("step", 0) <= step
    ]
    if run.is_main:
        trim_metrics(run.folder / "metrics.jsonl", step)
    if run.world > 1:
        run.seen = [run.batch_indices(k) for s in range(step) for k in run.step_batches(s)]
    run.log(f"resumed from {ckpt.name}")
    return step


def save_adapter(run: Run, name: str = "adapter") -> Path:
    """Write ``adapter/``; every rank calls it (under FSDP the full weights are gathered), rank 0 writes."""
    final = run.folder / name
    weights = gather_trainable(run.model) if run.fsdp else None
    if not run.is_main:
        return final
    tmp = run.folder / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run.model.save_pretrained(str(tmp), **({"state_dict": weights} if weights is not None else {}))
    run.tokenizer.save_pretrained(str(tmp))
    _replace_folder(tmp, final)
    return final


def merge(run: Run) -> Path:
    """Base weights + adapter -> merged/ (full precision base, never onto a 4-bit base; on the CPU after FSDP,
    whose model may not fit one GPU)."""
    from peft import PeftModel

    precision = "fp32" if run.device == "cpu" else run.precision
    base = load_base(run.plan, run.tokenizer, "cpu" if run.fsdp else run.device, precision, quantize=False)
    merged = PeftModel.from_pretrained(base, str(run.folder / "adapter")).merge_and_unload()
    final = run.folder / "merged"
    tmp = run.folder / ".merged.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    run.tokenizer.save_pretrained(str(tmp))
    _replace_folder(tmp, final)
    return final


__all__ = ["gathered", "merge", "restore", "rng_state", "save_adapter", "save_checkpoint"]
