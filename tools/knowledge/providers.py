"""The schema of ``reference/data/providers.yaml``: fine-tuning providers, their models, and how they end.

Also :func:`providers`, the cached, validated file, and the ``Method`` literal that pricing rows share.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Dated, Expiry, Fact, Until, known_date, load_facts

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
    date: date | Literal["unknown"]
    event: str


class ServerlessFor(BaseModel):
    """Serverless (per token) only for adapters on these bases; every other fine-tune is served ``otherwise``."""

    model_config = ConfigDict(extra="forbid")
    serverless_for: list[str] = Field(min_length=1)
    otherwise: Literal["dedicated"] = "dedicated"


Serving = Literal["serverless", "dedicated", "self_managed", "none"] | ServerlessFor
"""How a fine-tuned model is served: per token on shared capacity, on a deployment billed while it is up
(per hour, GPU-second or model unit, with or without traffic), on your own machines, or not at all."""


def serving_text(serving: Serving | None) -> str:
    """How a fine-tune is served, in words."""
    if serving is None:
        return "not documented"
    if isinstance(serving, ServerlessFor):
        return f"serverless only for adapters on {', '.join(serving.serverless_for)}; otherwise {serving.otherwise}"
    return serving.replace("_", "-")


class ClosedMethod(Fact):
    """A method the provider lists but no longer accepts new jobs for."""

    method: Method
    since: Until = Field(description="the day it closed, or unknown when the page gives none")
    instead: str | None = Field(default=None, description="what the provider offers instead")


class Eligibility(Fact):
    """Who may still start jobs, when not everyone may."""

    rule: str
    until: date | None = Field(default=None, description="the last day the rule admits anyone")


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
    serving: Serving | None = Field(default=None, description="how the fine-tune is served; default: the provider's")
    methods_closed: list[ClosedMethod] = []
    regions: list[str] = []


class Provider(Dated):
    id: str
    name: str
    kind: ProviderKind
    status: Status
    milestones: list[Milestone] = []
    eligibility: Eligibility | None = None
    hosting: list[Hosting]
    hosting_note: str | None = None
    serving: Serving | None = None
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
        """When new training jobs for ``model`` stop: the earlier known date of the model's and the service's end
        (None when neither has a known date; see :meth:`until_unknown`)."""
        dates = [d for d in (known_date(model.available_until), known_date(self.available_until)) if d is not None]
        return min(dates) if dates else None

    def model_serving_until(self, model: ProviderModel) -> date | None:
        """When inference on a fine-tune of ``model`` stops, when known."""
        dates = [d for d in (known_date(model.serving_until), known_date(self.serving_until)) if d is not None]
        return min(dates) if dates else None

    def until_unknown(self, model: ProviderModel) -> bool:
        """True when the model's or the service's closing date is ``unknown`` (never "no announced end")."""
        return "unknown" in (model.available_until, self.available_until)

    def serving_of(self, model: ProviderModel) -> Serving | None:
        return model.serving if model.serving is not None else self.serving

    def closed_method(self, model: ProviderModel, method: str) -> ClosedMethod | None:
        return next((c for c in model.methods_closed if c.method == method), None)


class ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expiry: list[Expiry] = []
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
