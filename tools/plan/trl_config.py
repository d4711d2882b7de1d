"""One TrainingPlan rendered as the TRL configuration: the one a local run trains with and the one exported.

:func:`trl_config` gives the flat keys of ``trl sft|dpo|grpo --config`` (TRL's ``ScriptArguments`` +
``ModelConfig`` + ``SFTConfig``/``DPOConfig``/``GRPOConfig``). configure_training writes them as
``trl_sft.yaml`` (and the Python script); the worker builds its ``SFTConfig``/``DPOConfig``/``GRPOConfig`` and
peft ``LoraConfig`` from the same dict (:func:`trainer_kwargs`, :func:`lora_kwargs`) and keeps it as
``runs/<id>/trl_config.yaml``. They differ only in the keys named here:

- :data:`RUN_ONLY`: the run hands TRL pre-tokenized rows with our assistant-only labels, so it skips TRL's
  dataset preparation (``dataset_kwargs``);
- :data:`EXPORT_ONLY`: a user running ``trl sft`` on the raw JSONL lets TRL mask (``assistant_only_loss``);
- the paths (``output_dir``, ``dataset_name``).

The cadence needs no step count: eval and save intervals below 1 are ratios of the total steps, which the
Trainer computes from the data, exactly as it does for a user.
"""

from __future__ import annotations

from typing import Any

from tools.knowledge.lora_defaults import load_defaults
from tools.plan.training_plan import TrainingPlan

RUN_ONLY = ("dataset_kwargs",)
EXPORT_ONLY = ("assistant_only_loss",)
PATHS = ("output_dir", "dataset_name")
SCRIPT_KEYS = ("model_name_or_path", "dataset_name")
PEFT_FLAGS = {
    "lora_r": "r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "target_modules",
}
MODEL_KEYS = ("use_peft", "load_in_4bit", "bnb_4bit_quant_type", "use_bnb_nested_quant", *PEFT_FLAGS)
SAMPLING = {"auto": "group_by_length", "length_grouped": "group_by_length", "padded": "random", "packed": "random"}


def _sft_batching(plan: TrainingPlan, for_run: bool) -> dict[str, Any]:
    """Length and batching keys. ``packed`` in a run is padding-free over rows our renderer already cut to
    max_seq_len, so TRL gets ``max_length=None`` (it refuses padding_free with a max_length it would not enforce);
    an exported config lets TRL prepare the data, so it packs with best-fit decreasing at max_seq_len."""
    if plan.batching != "packed":
        return {"max_length": plan.max_seq_len, "packing": False, "padding_free": False}
    if for_run:
        return {"max_length": None, "packing": False, "padding_free": True}
    return {"max_length": plan.max_seq_len, "packing": True, "packing_strategy": "bfd"}


def _cadence(plan: TrainingPlan) -> dict[str, Any]:
    d = load_defaults()
    return {
        "logging_steps": plan.logging_steps or 1,
        "eval_steps": plan.eval_steps or round(1 / d.number("evals_per_run"), 4),
        "save_steps": plan.save_steps or round(1 / d.number("saves_per_run"), 4),
    }


def trl_config(
    plan: TrainingPlan,
    *,
    objective: str,
    dataset: str,
    output_dir: str,
    precision: str,
    device: str,
    has_eval: bool,
    for_run: bool,
) -> dict[str, Any]:
    """The TRL keys of ``plan`` for ``objective`` (sft, dpo or grpo) on ``device`` with ``precision``."""
    checkpointing = plan.gradient_checkpointing if plan.gradient_checkpointing is not None else device != "cpu"
    cfg: dict[str, Any] = {
        "model_name_or_path": plan.base_model,
        "dataset_name": dataset,
        "output_dir": output_dir,
        "learning_rate": plan.learning_rate,
        "num_train_epochs": plan.num_epochs,
        "max_steps": plan.max_steps or -1,
        "per_device_train_batch_size": plan.per_device_batch_size,
        "per_device_eval_batch_size": plan.per_device_batch_size,
        "gradient_accumulation_steps": plan.gradient_accumulation_steps,
        "lr_scheduler_type": plan.lr_scheduler,
        "warmup_steps": plan.warmup_ratio,  # transformers >= 5: a float below 1 is a ratio (warmup_ratio was removed)
        "weight_decay": plan.weight_decay,
        "max_grad_norm": plan.max_grad_norm,
        "optim": plan.optimizer,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "gradient_checkpointing": checkpointing,
        "seed": plan.seed,
        "data_seed": plan.seed,
        "eval_strategy": "steps" if has_eval else "no",
        "save_strategy": "steps",
        "save_total_limit": plan.keep_last_k,
        **_cadence(plan),
        "report_to": list(plan.report_to) or "none",
        "train_sampling_strategy": SAMPLING[plan.batching] if objective == "sft" else "random",
    }
    if objective == "sft":
        cfg.update(_sft_batching(plan, for_run))
        cfg.update({"dataset_kwargs": {"skip_prepare_dataset": True}} if for_run else {"assistant_only_loss": True})
    elif objective == "dpo":
        cfg.update({"beta": plan.dpo_beta, "max_length": plan.max_seq_len})
    else:
        cfg.update(
            {
                "num_generations": plan.num_generations,
                "max_completion_length": plan.max_completion_length,
                "use_vllm": False,
            }
        )
    cfg.update(
        {
            "use_peft": True,
            "lora_r": plan.lora_r,
            "lora_alpha": plan.lora_alpha,
            "lora_dropout": plan.lora_dropout,
            "lora_target_modules": plan.peft_targets(),
        }
    )
    if plan.method == "qlora":
        cfg.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    if objective == "sft" and device == "cuda" and liger_installed():
        cfg["use_liger_kernel"] = True
    return cfg


def liger_installed() -> bool:
    """Liger's Triton kernels (RMSNorm, RoPE, SwiGLU) are used for SFT on CUDA when the package is installed: the
    H200 run (benchmarks/results/gpu-h200.json, variant c_plan) measured the engine with them."""
    import importlib.util

    return importlib.util.find_spec("liger_kernel") is not None


def trainer_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``cfg`` that SFTConfig/DPOConfig/GRPOConfig take (the script and model keys removed)."""
    return {k: v for k, v in cfg.items() if k not in SCRIPT_KEYS and k not in MODEL_KEYS}


def lora_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """peft LoraConfig arguments from the ``lora_*`` flags of ``cfg``."""
    return {
        **{PEFT_FLAGS[k]: cfg[k] for k in PEFT_FLAGS},
        "task_type": "CAUSAL_LM",
        "bias": "none",
    }


def comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` without the keys that differ by design between the run and the export (see the module doc)."""
    return {k: v for k, v in cfg.items() if k not in RUN_ONLY + EXPORT_ONLY + PATHS}


__all__ = ["EXPORT_ONLY", "RUN_ONLY", "comparable", "lora_kwargs", "trainer_kwargs", "trl_config"]
