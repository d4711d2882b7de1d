"""The arithmetic of the GPU benchmark: model FLOPs per token, the measured matrix rate, MFU, anchors and goals.

Model FLOPs (what MFU counts; recomputation by gradient checkpointing is not counted, padding is not counted):

- linear layers (the frozen base, the output head included): forward 2N + activation gradients 2N per token, with
  no weight gradients for the frozen weights (EleutherAI's 6N less the 2N of weight gradients);
- the LoRA adapters: 6 x their parameters per token (forward, activation and weight gradients);
- attention (the score and value products): forward 2 x 2 x layers x (heads x head_dim) per attended pair, causal,
  so an example of n tokens has n(n+1)/2 pairs; its backward is twice the forward.

The bf16 matrix rate is timed in the same process (square bf16 products after warm-ups), so MFU is against what
this GPU delivers, and the datasheet peak is printed beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Shape:
    linear_params: int  # every nn.Linear of the base, the output head included
    lora_params: int
    layers: int
    attn_width: int  # heads x head_dim

    def flops(self, lengths: list[int]) -> float:
        """Model FLOPs of training on examples of these lengths (tokens, no padding)."""
        tokens = sum(lengths)
        pairs = sum(n * (n + 1) // 2 for n in lengths)
        linear = 4 * self.linear_params * tokens + 6 * self.lora_params * tokens
        attention = 3 * 4 * self.layers * self.attn_width * pairs
        return float(linear + attention)


def shape_of(model: Any) -> Shape:
    """Counts the linear and LoRA parameters of a peft model (4-bit layers count their logical size)."""
    import torch

    linear = lora = 0
    for name, module in model.named_modules():
        if "lora_" in name:
            if isinstance(module, torch.nn.Linear):
                lora += module.in_features * module.out_features
            continue
        if hasattr(module, "in_features") and hasattr(module, "out_features") and not hasattr(module, "base_layer"):
            linear += module.in_features * module.out_features
    cfg = model.config.get_text_config()
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return Shape(linear, lora, cfg.num_hidden_layers, cfg.num_attention_heads * head_dim)


def matmul_tflops(device: str, size: int, repeats: int = 10, warmups: int = 3) -> float:
    """TFLOP/s of a size x size x size bf16 product on ``device`` (mean of ``repeats`` after ``warmups``)."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(warmups):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    seconds = (time.perf_counter() - start) / repeats
    return 2 * size**3 / seconds / 1e12


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def anchors(gpu_id: str | None, variants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The public figures next to ours: torchtune's 8B LoRA tokens/s scaled by bf16 peak, Unsloth's claim."""
    from tools import knowledge

    gpus = knowledge.gpus()
    ours = gpus.gpu(gpu_id).bf16_dense_tflops if gpu_id else None
    train = knowledge.training()
    out: list[dict[str, Any]] = []
    for row in train.measured_throughput:
        if row.method != "sft_lora" or row.model_params_b != 8 or row.gpus != 1:
            continue
        peak = gpus.gpu(row.gpu).bf16_dense_tflops
        scaled = row.tokens_per_second * ours / peak if ours and peak else None
        out.append(
            {
                "what": f"torchtune Llama 3.1 8B LoRA on one {gpus.gpu(row.gpu).name}",
                "tokens_per_s": row.tokens_per_second,
                "bf16_peak_tflops": peak,
                "scaled_to_this_gpu_tokens_per_s": round(scaled) if scaled else None,
                "source": row.source,
            }
        )
    speed = train.constant("unsloth_claim_speedup")
    memory = train.constant("unsloth_claim_memory_saving")
    a = variants.get("a", {})
    key = next((k for k in ENGINE_VARIANTS if k in variants), "c_plan")
    c = variants.get(key, {})
    out.append(
        {
            "what": "Unsloth's claim against HF + FlashAttention-2 (vendor claim, not measured here)",
            "claimed_speedup": speed.value,
            "claimed_memory_ratio": round(1 - memory.value, 3),
            "ours": f"{key} against a (HF Trainer + peft, padded, SDPA)",
            "ours_speedup": ratio(c.get("trained_tokens_per_s"), a.get("trained_tokens_per_s")),
            "ours_memory_ratio": ratio(c.get("peak_memory_gb"), a.get("peak_memory_gb")),
            "source": speed.source,
        }
    )
    return out


GOALS = (
    ("vs_a_trained_tokens_per_s", ">=", 2.0),
    ("vs_b_trained_tokens_per_s", ">=", 1.3),
    ("mfu", ">=", 0.40),
    ("vs_a_peak_memory", "<=", 0.7),
)
ENGINE_VARIANTS = ("c_plan", "c")  # configure_training's plan as it is, and the same plan padding-free
ESTIMATE_TOLERANCE = 0.15


def goals(variants: dict[str, dict[str, Any]], *, smoke: bool) -> list[dict[str, Any]]:
    """Each goal of issue 15 for each engine variant that ran, with the measured value and whether it is met (None
    when not measured, and always in a smoke run: tiny shapes on a CPU say nothing about a GPU)."""
    a, b = variants.get("a", {}), variants.get("b", {})
    out = []
    for key in (k for k in ENGINE_VARIANTS if k in variants):
        c = variants[key]
        measured = {
            "vs_a_trained_tokens_per_s": ratio(c.get("trained_tokens_per_s"), a.get("trained_tokens_per_s")),
            "vs_b_trained_tokens_per_s": ratio(c.get("trained_tokens_per_s"), b.get("trained_tokens_per_s")),
            "mfu": c.get("mfu"),
            "vs_a_peak_memory": ratio(c.get("peak_memory_gb"), a.get("peak_memory_gb")),
        }
        for name, op, target in GOALS:
            value = measured[name]
            met = None if value is None or smoke else (value >= target if op == ">=" else value <= target)
            out.append({"goal": f"{key}_{name}", "target": f"{op} {target}", "measured": value, "met": met})
    for key, v in variants.items():
        err = v.get("estimate_error")
        met = None if err is None or smoke else abs(err) <= ESTIMATE_TOLERANCE
        out.append(
            {
                "goal": f"{key}_memory_estimate_within_15pct",
                "target": f"|error| <= {ESTIMATE_TOLERANCE}",
                "measured": err,
                "met": met,
            }
        )
    return out
