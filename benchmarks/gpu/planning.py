"""configure_training's side of the GPU benchmark: the plan for a model on this GPU, and its memory prediction."""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

from benchmarks.gpu import variants as V

SMOKE_BATCH = 4  # examples per optimizer step in the smoke run (the real run takes configure_training's)


def gpu_row(device_name: str) -> str | None:
    """The gpus.yaml id whose name starts with what CUDA reports ('NVIDIA H200' -> h200)."""
    from tools import knowledge

    for g in knowledge.gpus().gpus:
        if g.name.lower().startswith(device_name.lower()) or device_name.lower().startswith(g.name.lower()):
            return g.id
    return None


def configure(name: str, params_b: float, info: dict[str, Any], args: argparse.Namespace, method: str) -> Any:
    """configure_training's plan for this model on this GPU (max_seq_len = the data's cut, as many examples)."""
    from tools.configure.configure_training import configure_training
    from tools.configure.models import ConfigRequest
    from tools.core.workspace import Workspace, using

    gpu = info["gpu_id"]
    memory = None if gpu or info["memory_gb"] is None else info["memory_gb"]
    with tempfile.TemporaryDirectory() as tmp, using(Workspace(tmp)):
        return configure_training(
            ConfigRequest(
                base_model=name,
                model_params_b=params_b,
                gpu=gpu,
                gpu_memory_gb=memory,
                examples=args.examples,
                max_seq_len=args.max_len,
                method=method,
                effective_batch_size=SMOKE_BATCH if args.smoke else None,
                exports=["trl_yaml"],
            )
        )


def settings(plan: Any, info: dict[str, Any], args: argparse.Namespace, out_dir: str) -> V.Settings:
    from tools.plan.trl_config import lora_kwargs, trl_config

    cfg = trl_config(
        plan, objective="sft", dataset="-", output_dir=out_dir, precision="bf16", device="cuda", has_eval=False,
        for_run=True,
    )  # fmt: skip
    return V.Settings(
        device="cuda" if info["device"] == "cuda" else "cpu",
        steps=args.steps,
        warmup=args.warmup,
        per_device=plan.per_device_batch_size,
        accum=plan.gradient_accumulation_steps,
        max_len=args.max_len,
        seed=plan.seed,
        lora=lora_kwargs(cfg),
        optimizer=plan.optimizer,
        learning_rate=plan.learning_rate,
        out_dir=out_dir,
    )


def predicted_gb(method: str, params_b: float, s: V.Settings) -> float:
    """What configure_training predicts for this method and micro-batch (tools.plan.plan_math.training_memory)."""
    from tools.plan import plan_math as pm

    return float(f"{pm.training_memory(method, params_b, s.per_device * s.max_len).total_gb:.4g}")
