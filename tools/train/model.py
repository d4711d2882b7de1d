"""The model of a local run, in memory: device and precision, tokenizer, base model (4-bit NF4 for QLoRA, CUDA
only), the LoRA adapter, the optimizer and its schedule, and the summed loss of a batch on assistant tokens."""

from __future__ import annotations

import contextlib
import math
import resource
from typing import Any

from tools.core.errors import ToolError
from tools.local_models.tiny import build_model, build_tokenizer, is_tiny
from tools.plan.training_plan import TrainingPlan


def device_and_precision(plan: TrainingPlan) -> tuple[str, str]:
    """('cuda'|'cpu', 'bf16'|'fp16'|'fp32') for this machine; ToolError when the plan cannot run here."""
    import torch

    cuda = torch.cuda.is_available()
    if plan.method == "qlora" and not cuda:
        raise ToolError(
            "qlora_needs_cuda",
            "QLoRA (4-bit bitsandbytes) needs a CUDA GPU and none is available",
            "use method 'lora' on this machine, or run on a machine with an NVIDIA GPU",
        )
    if plan.optimizer != "adamw_torch" and not cuda:
        raise ToolError(
            "optimizer_needs_cuda",
            f"optimizer {plan.optimizer} needs CUDA and bitsandbytes",
            "use optimizer 'adamw_torch' on CPU",
        )
    if plan.precision == "auto":
        return ("cuda", "bf16") if cuda and torch.cuda.is_bf16_supported() else ("cuda" if cuda else "cpu", "fp32")
    if plan.precision in {"bf16", "fp16"} and not cuda:
        raise ToolError(
            "precision_needs_cuda",
            f"precision {plan.precision} needs a CUDA GPU; this machine has none",
            "use precision 'auto' or 'fp32' on CPU",
        )
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
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float16,
        )
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
    config = LoraConfig(
        r=plan.lora_r,
        lora_alpha=plan.lora_alpha,
        lora_dropout=plan.lora_dropout,
        target_modules=plan.peft_targets(),
        task_type="CAUSAL_LM",
        bias="none",
    )
    torch.manual_seed(plan.seed)
    return get_peft_model(model, config)


def resolve_batching(plan: TrainingPlan) -> str:
    return "length_grouped" if plan.batching == "auto" else plan.batching


def make_optimizer(params: list[Any], plan: TrainingPlan, total_steps: int) -> tuple[Any, int, Any]:
    """(optimizer, warm-up steps, scheduler) for the trainable ``params`` of a run of ``total_steps``."""
    import torch
    from transformers import get_scheduler

    if plan.optimizer == "adamw_torch":
        optimizer = torch.optim.AdamW(params, lr=plan.learning_rate, weight_decay=plan.weight_decay)
    else:  # pragma: no cover - CUDA only
        import bitsandbytes as bnb

        cls = bnb.optim.PagedAdamW8bit if plan.optimizer == "paged_adamw_8bit" else bnb.optim.AdamW8bit
        optimizer = cls(params, lr=plan.learning_rate, weight_decay=plan.weight_decay)
    warmup = math.ceil(plan.warmup_ratio * total_steps)
    scheduler = get_scheduler(plan.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)
    return optimizer, warmup, scheduler


def batch_loss_sum(model: Any, batch: dict[str, Any], device: str, autocast_dtype: Any) -> Any:
    """Cross-entropy summed over the trained (label != -100) tokens of ``batch``, next-token shifted."""
    import torch
    import torch.nn.functional as F

    kwargs: dict[str, Any] = {"input_ids": batch["input_ids"].to(device)}
    if batch["attention_mask"] is not None:
        kwargs["attention_mask"] = batch["attention_mask"].to(device)
    if batch["position_ids"] is not None:
        kwargs["position_ids"] = batch["position_ids"].to(device)
    ctx = torch.autocast(device_type=device, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with ctx:
        logits = model(**kwargs, use_cache=False).logits
    labels = batch["labels"].to(device)
    return F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


__all__ = [
    "attach_lora",
    "batch_loss_sum",
    "device_and_precision",
    "load_base",
    "load_tokenizer",
    "make_optimizer",
    "peak_memory_mb",
    "resolve_batching",
]
