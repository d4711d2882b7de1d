"""The resume check: 30 optimizer steps uninterrupted against 15 steps, a checkpoint, and a resumed run to 30.

Our engine (variant c's settings) on the Llama-3.1-8B shape cut to two decoder layers (same width, vocabulary and
kernels; the check is about the checkpoint, not the depth), deterministic kernels on. The adapters of both runs
are compared tensor by tensor; the result gives the largest absolute and relative difference, and the same for
two uninterrupted runs (``noise_floor``): on CUDA some kernels (cuDNN attention's backward) are not deterministic,
so a resume is exact when its difference is no larger than that floor.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.gpu import fixtures as F
from benchmarks.gpu import variants as V
from benchmarks.gpu.planning import configure, settings

TOTAL, STOP = 30, 15
SMOKE_TOTAL, SMOKE_STOP = 4, 2
ATOL, RTOL = 1e-5, 1e-4


def stop_at(step: int) -> Any:
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= step:
                control.should_save = True
                control.should_training_stop = True

    return StopAt()


def adapter(trainer: Any) -> dict[str, Any]:
    return {k: v.detach().float().cpu().clone() for k, v in trainer.model.named_parameters() if "lora_" in k}


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    import torch

    worst_abs = worst_rel = 0.0
    close = set(a) == set(b)
    for k in a:
        diff = (a[k] - b[k]).abs()
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float((diff / b[k].abs().clamp(min=1e-12)).max()))
        close = close and torch.allclose(a[k], b[k], atol=ATOL, rtol=RTOL)
    return {"tensors": len(a), "max_abs_diff": worst_abs, "max_rel_diff": worst_rel, "equal_within_tolerance": close}


def resume_check(info: dict[str, Any], args: argparse.Namespace, rate: float | None) -> dict[str, Any]:
    import torch

    config = F.smoke_config("llama-3.1-8b") if args.smoke else F.model_config("llama-3.1-8b")
    config.pop("params_b")
    config["num_hidden_layers"] = 2
    tokenizer = F.byte_tokenizer()
    rows = F.rows(tokenizer, args.examples, seed=1, lengths=F.LengthModel.scaled(args.max_len))
    plan = configure("meta-llama/Llama-3.1-8B", 8.03, info, args, "lora").plan.model_copy(update={"batching": "packed"})
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            total, stop = (SMOKE_TOTAL, SMOKE_STOP) if args.smoke else (TOTAL, STOP)
            s = replace(settings(plan, info, args, one), steps=total, warmup=0)
            full, _, _ = V.run_engine(config, tokenizer, rows, plan, s)
            uninterrupted = adapter(full)
            V.release(full)
            again, _, _ = V.run_engine(config, tokenizer, rows, plan, replace(s, out_dir=two))
            noise = compare(uninterrupted, adapter(again))
            V.release(again)
            s2 = replace(s, out_dir=two)
            first, _, _ = V.run_engine(config, tokenizer, rows, plan, s2, callbacks=(stop_at(stop),), save_steps=stop)
            stopped_at = first.state.global_step
            V.release(first)
            ckpt = Path(two) / f"checkpoint-{stop}"
            if not ckpt.is_dir():
                return {"error": f"no checkpoint-{stop} after stopping at step {stopped_at}"}
            second, _, _ = V.run_engine(config, tokenizer, rows, plan, s2, resume=str(ckpt), save_steps=stop)
            resumed = adapter(second)
            end = second.state.global_step
            V.release(second)
    finally:
        torch.use_deterministic_algorithms(False)
    return {
        "model": "llama-3.1-8b shape, 2 decoder layers" + (" (smoke: tiny)" if args.smoke else ""),
        "device": info["device"],
        "steps": {"uninterrupted": total, "stopped_at": stopped_at, "resumed_to": end},
        "tolerance": {"atol": ATOL, "rtol": RTOL},
        **compare(uninterrupted, resumed),
        "noise_floor": {"what": "the same uninterrupted run twice: what the kernels alone change", **noise},
    }
