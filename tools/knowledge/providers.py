"""The schema of ``reference/data/providers.yaml``: fine-tuning providers, their models, and how they end.

Also :func:`providers`, the cached, validated file, and the ``Method`` literal that pricing rows share.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Dated, Fact, load_facts

Method = Literal[
    "sft",
    "sft_lora",
    "sft_qlora",
    "sft_full",
    "vision_sft",
    "dpo",
    "dpo_lora",
    "dpo_full",
    "rft",
    "grpo_lora",
    "grpo_full",
    "distillation",
]
ProviderKind = Literal["managed_api", "cloud_platform", "open_weight_api", "self_hosted", "rented_gpu", "eval_service"]
Status = Literal["active", "closing", "ended", "deprecated"]
Hosting = Literal[
    "per_token",
    "hourly_hosting",
    "provisioned_throughput",
    "dedicated_endpoint",
    "self_managed",
    "per_model_unit_minute",
    "none",
]
Tristate = Literal["yes", "no", "on_request", "limited", "opt_in", "unclear", "unknown", "not_applicable"]


class Milestone(Fact):
    date: date
    event: str


class ProviderModel(Dated):
    id: str
    family: str | None = None
    params_b: float | None = Field(default=None, description="parameter count in billions (size class upper bound)")
    methods: list[Method]
    formats: list[str] = []
    min_examples: int | None = None
    recommended_examples: int | None = None
    max_examples: int | None = None
    max_validation_examples: int | None = None
    max_tokens_per_example: int | None = None
    context_tokens: int | None = None
    modalities: list[str] = ["text"]
    tool_calling: bool | None = None
    serving_until: date | None = None


class Provider(Dated):
    id: str
    name: str
    kind: ProviderKind
    status: Status
    until_note: str | None = None
    milestones: list[Milestone] = []
    hosting: list[Hosting]
    hosting_note: str | None = None
    regions: list[str] = []
    residency: str | None = None
    data_leaves_your_machines: bool
    retention: str | None = None
    zdr: Tristate = "unknown"
    zdr_note: str | None = None
    trains_on_customer_data: Tristate = "unknown"
    trains_note: str | None = None
    hipaa_baa: Tristate = "unknown"
    hipaa_note: str | None = None
    certifications: list[str] = []
    max_file_mb: float | None = None
    formats: list[str] = []
    models: list[ProviderModel] = []

    def model(self, model_id: str) -> ProviderModel:
        for m in self.models:
            if m.id == model_id:
                return m
        known = ", ".join(m.id for m in self.models) or "none"
        raise ToolError(
            "unknown_model", f"{self.id} has no fine-tunable model {model_id!r}", f"known models for {self.id}: {known}"
        )

    def model_until(self, model: ProviderModel) -> date | None:
        """When new training jobs for ``model`` stop: the earlier of the model's and the service's end."""
        dates = [d for d in (model.available_until, self.available_until) if d is not None]
        return min(dates) if dates else None


class ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: list[Provider]

    @model_validator(mode="after")
    def _unique(self) -> ProvidersFile:
        ids = [p.id for p in self.providers]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate provider ids: {', '.join(dupes)}")
        for p in self.providers:
            mids = [m.id for m in p.models]
            dupes = sorted({i for i in mids if mids.count(i) > 1})
            if dupes:
                raise ValueError(f"provider {p.id}: duplicate model ids: {', '.join(dupes)}")
        return self

    def provider(self, provider_id: str) -> Provider:
        for p in self.providers:
            if p.id == provider_id:
                return p
        known = ", ".join(p.id for p in self.providers)
        raise ToolError("unknown_provider", f"no provider {provider_id!r} in providers.yaml", f"known: {known}")


def providers() -> ProvidersFile:
    return load_facts("providers", ProvidersFile)
