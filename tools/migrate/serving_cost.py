"""What serving the old model costs today, and what serving the replacement on one rented GPU costs.

Today: the mean request of the training data (prompt with its system prompt, and the answer) at the fine-tuned
model's standard per-token price (pricing.yaml). On your own or rented GPUs a model is not billed per token: the
cheapest GPU whose memory holds the base in bf16 plus the inference overhead (training.yaml), running the whole
billing month (training.yaml hours_per_billing_month), at the cheapest confirmed offer (gpus.yaml). Whether one
GPU keeps up with the traffic is not measured here, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools import knowledge
from tools.cost.money import money
from tools.cost.parts import confirmed_offers
from tools.migrate.facts import Rates


@dataclass(frozen=True)
class Now:
    per_request_usd: float | None
    monthly_usd: float | None
    rates: str


def now_cost(standard: Rates, prompt_tokens: float, output_tokens: float, monthly_requests: int | None) -> Now:
    per = standard.cost(round(prompt_tokens), round(output_tokens))
    monthly = per * monthly_requests if per is not None and monthly_requests is not None else None
    return Now(per, monthly, standard.text)


@dataclass(frozen=True)
class GpuServing:
    monthly_usd: float
    text: str


def gpu_serving(params_b: float, usage: knowledge.FactUsage) -> GpuServing | None:
    """One GPU that holds the model, all month, at the cheapest confirmed offer; None when no offer is confirmed."""
    train = knowledge.training()
    weights = train.bytes_per_param("sft_lora", "bf16")
    overhead = train.constant("inference_memory_overhead")
    hours = train.constant("hours_per_billing_month")
    need_gb = params_b * weights.bytes_per_param * (1 + overhead.value)
    best: tuple[float, str, knowledge.GpuOffer] | None = None
    for gpu in knowledge.gpus().gpus:
        if gpu.memory_gb < need_gb:
            continue
        for offer, price in confirmed_offers(gpu.id)[:1]:
            if best is None or price < best[0]:
                best = (price, gpu.name, offer)
    if best is None:
        return None
    price, name, offer = best
    usage.add([offer], file="gpus.yaml")
    usage.add([weights, overhead, hours], file="training.yaml")
    monthly = price * hours.value
    return GpuServing(
        monthly,
        f"one {name} ({offer.vendor}, {offer.tier}) at {money(price)}/h x {hours.value:g} h holds {need_gb:.0f} GB "
        f"(bf16 weights + {overhead.value:.0%}); whether one GPU keeps up with the traffic is not measured",
    )


__all__ = ["GpuServing", "Now", "gpu_serving", "now_cost"]
