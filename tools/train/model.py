"""Where and how a local run's model trains: device and precision for the plan, and the base model (4-bit NF4 for
QLoRA, CUDA only)."""

from __future__ import annotations

from typing import Any

from tools.core.errors import ToolError
from tools.local_models.loader import ModelRef, load_causal_lm
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
    if plan.optimizer not in ("adamw_torch", "adamw_torch_fused") and not cuda:
        raise ToolError(
            "optimizer_needs_cuda",
            f"optimizer {plan.optimizer} needs CUDA and bitsandbytes",
            "use optimizer 'adamw_torch_fused' (or 'adamw_torch') on CPU",
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


def load_base(ref: ModelRef, plan: TrainingPlan, tokenizer: Any, precision: str, *, quantize: bool = True) -> Any:
    """The base model on the CPU (the Trainer moves it), or 4-bit on GPU 0 for QLoRA."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    if not (plan.method == "qlora" and quantize):
        return load_causal_lm(ref, dtype=dtype, seed=plan.seed, tokenizer=tokenizer)
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig  # pragma: no cover - CUDA only

    from tools.local_models.loader import source

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float16,
    )
    return AutoModelForCausalLM.from_pretrained(source(ref), dtype=dtype, quantization_config=quant, device_map={"": 0})


__all__ = ["device_and_precision", "load_base"]
