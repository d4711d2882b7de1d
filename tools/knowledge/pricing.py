"""The schema of ``reference/data/pricing.yaml``: training, inference, hosting and storage prices, discounts.

Also :func:`pricing`, the cached, validated file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Dated, Expiry, LastKnown, load_facts
from tools.knowledge.providers import Method, Serving

TrainingUnit = Literal["per_1m_tokens", "per_hour", "per_gpu_hour", "free"]


class TrainingPrice(Dated):
    provider: str
    model: str
    method: Method
    unit: TrainingUnit
    price_usd: float | None = Field(description="null: not confirmed at a source; tools must say so")
    last_known: LastKnown | None = Field(default=None, description="a price we could not confirm this time")
    min_fee_usd: float | None = None
    max_fee_usd: float | None = None
    billing: str | None = None


class InferencePrice(Dated):
    """Per 1M tokens: the base model and the fine-tuned model on the same path, side by side."""

    provider: str
    model: str
    tier: str = "standard"
    base_input: float | None = None
    base_cached_input: float | None = None
    base_output: float | None = None
    ft_input: float | None = None
    ft_cached_input: float | None = None
    ft_output: float | None = None
    serving: Serving | None = Field(default=None, description="how the fine-tuned model is served on this path")
    litellm_base_key: str | None = None
    litellm_ft_key: str | None = None
    litellm_price_suffix: str = ""


class HostingPrice(Dated):
    provider: str
    deployment: str
    unit: Literal["per_hour", "per_minute", "per_gpu_hour", "per_model_unit_hour", "per_model_unit_minute"]
    price_usd: float | None
    last_known: LastKnown | None = None
    billing: str | None = None
    commitment: str | None = None
    residency: str | None = None


class StoragePrice(Dated):
    provider: str
    unit: Literal["per_model_month", "per_model_unit_month"]
    price_usd: float | None
    last_known: LastKnown | None = None


class Discount(Dated):
    provider: str
    applies_to: Literal["training", "inference"]
    kind: str
    fraction_off: float | None
    fraction_off_max: float | None = None
    last_known: LastKnown | None = None


UNIT_TEXT = {
    "per_1m_tokens": "per 1M training tokens",
    "per_hour": "per hour",
    "per_minute": "per minute",
    "per_gpu_hour": "per GPU-hour",
    "per_model_unit_hour": "per model unit per hour",
    "per_model_unit_minute": "per model unit per minute",
    "per_model_month": "per model per month",
    "per_model_unit_month": "per model unit per month",
    "free": "(free)",
}
"""Units as words, for sentences (never "USD per_1m_tokens")."""


class PricingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expiry: list[Expiry] = []
    training: list[TrainingPrice]
    inference: list[InferencePrice]
    hosting: list[HostingPrice]
    storage: list[StoragePrice]
    discounts: list[Discount] = []

    @model_validator(mode="after")
    def _non_negative(self) -> PricingFile:
        for section in ("training", "inference", "hosting", "storage"):
            for i, row in enumerate(getattr(self, section)):
                for name, value in row.model_dump().items():
                    if isinstance(value, float | int) and not isinstance(value, bool) and value < 0:
                        raise ValueError(f"{section}[{i}].{name} is negative")
        return self

    def training_price(self, provider: str, model: str, method: str | None = None) -> TrainingPrice:
        rows = [
            r
            for r in self.training
            if r.provider == provider and r.model == model and (method is None or r.method == method)
        ]
        if not rows:
            known = sorted({f"{r.model} ({r.method})" for r in self.training if r.provider == provider})
            raise ToolError(
                "unknown_price",
                f"no training price for {provider} / {model}" + (f" / {method}" if method else ""),
                f"priced for {provider}: {', '.join(known) or 'nothing'}",
            )
        return rows[0]

    def inference_price(self, provider: str, model: str, tier: str = "standard") -> InferencePrice:
        for r in self.inference:
            if r.provider == provider and r.model == model and r.tier == tier:
                return r
        known = sorted({f"{r.model} ({r.tier})" for r in self.inference if r.provider == provider})
        raise ToolError(
            "unknown_price",
            f"no inference price for {provider} / {model} / {tier}",
            f"priced for {provider}: {', '.join(known) or 'nothing'}",
        )

    def hosting_for(self, provider: str) -> list[HostingPrice]:
        return [r for r in self.hosting if r.provider == provider]

    def storage_for(self, provider: str) -> list[StoragePrice]:
        return [r for r in self.storage if r.provider == provider]


def pricing() -> PricingFile:
    return load_facts("pricing", PricingFile)
