"""The knowledge base's public face: the five shipped fact files, and the checks that span them.

The pieces live in their own modules: :mod:`tools.knowledge.core` (fact rows, loading and validation,
today's date, ageing warnings) and one schema module per file - :mod:`tools.knowledge.providers`,
:mod:`tools.knowledge.pricing`, :mod:`tools.knowledge.gpus`, :mod:`tools.knowledge.training`,
:mod:`tools.knowledge.decision` - each with its cached accessor (:func:`providers`, :func:`pricing`, ...).

This module holds what needs several files at once (:data:`FACT_MODELS`, :func:`cross_check`,
:func:`offering_warnings`) and re-exports the names that callers use as ``knowledge.<name>``, so
``from tools import knowledge`` keeps working. New code that needs one row type or one core helper
imports it from its home module. Nothing below imports this module, so there is no import cycle.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from tools.knowledge.core import (
    DEFAULT_HORIZON_DAYS,
    Fact,
    FactWarning,
    iter_facts,
    iter_rows,
    load_facts,
    load_facts_file,
    max_age_days,
    today,
    validate_facts,
    warning_texts,
    warnings_for,
)
from tools.knowledge.decision import Condition, DecisionFile, decision
from tools.knowledge.gpus import GpusFile, gpus
from tools.knowledge.pricing import HostingPrice, InferencePrice, PricingFile, TrainingPrice, pricing
from tools.knowledge.providers import Provider, ProviderModel, ProvidersFile, providers
from tools.knowledge.training import Constant, TrainingFile, training

__all__ = [
    # the core (tools.knowledge.core)
    "DEFAULT_HORIZON_DAYS",
    "Fact",
    "FactWarning",
    "iter_facts",
    "iter_rows",
    "load_facts",
    "load_facts_file",
    "max_age_days",
    "today",
    "validate_facts",
    "warning_texts",
    "warnings_for",
    # the files, their accessors, and the row types callers name through this module
    "ProvidersFile",
    "Provider",
    "ProviderModel",
    "providers",
    "PricingFile",
    "TrainingPrice",
    "InferencePrice",
    "HostingPrice",
    "pricing",
    "GpusFile",
    "gpus",
    "TrainingFile",
    "Constant",
    "training",
    "DecisionFile",
    "Condition",
    "decision",
    # defined here
    "FACT_MODELS",
    "cross_check",
    "offering_warnings",
]

FACT_MODELS: dict[str, type[BaseModel]] = {
    "providers": ProvidersFile,
    "pricing": PricingFile,
    "gpus": GpusFile,
    "training": TrainingFile,
    "decision": DecisionFile,
}
"""The files this module validates. Other modules' files (formats, diagnose) are checked for dates only,
unless they add their model here."""


def cross_check(prov: ProvidersFile, price: PricingFile, gpu: GpusFile, train: TrainingFile) -> list[str]:
    """References between files that must resolve: pricing providers, throughput GPUs."""
    problems: list[str] = []
    provider_ids = {p.id for p in prov.providers}
    for section in ("training", "inference", "hosting", "storage", "discounts"):
        for i, row in enumerate(getattr(price, section)):
            if row.provider not in provider_ids:
                problems.append(f"pricing.yaml {section}[{i}]: unknown provider {row.provider!r}")
    gpu_ids = {g.id for g in gpu.gpus}
    for i, row in enumerate(train.measured_throughput):
        if row.gpu not in gpu_ids:
            problems.append(f"training.yaml measured_throughput[{i}]: unknown gpu {row.gpu!r}")
    return problems


def offering_warnings(
    provider_id: str,
    model_id: str | None = None,
    *,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
) -> list[FactWarning]:
    """Warnings for a provider path (and one of its models): the service, the model, and every price row
    for them - what select_provider / estimate_cost attach when they recommend or price that path."""
    prov = providers().provider(provider_id)
    rows: list[Fact] = [prov]
    found = warnings_for(rows, file="providers.yaml", on=on, max_age=max_age, horizon=horizon)
    price = pricing()
    price_rows: list[Fact] = [r for r in price.hosting_for(provider_id)] + price.storage_for(provider_id)
    if model_id is not None:
        model = prov.model(model_id)
        found += warnings_for(
            [model], file="providers.yaml", on=on, max_age=max_age, horizon=horizon, context=provider_id
        )
        price_rows += [r for r in price.training if r.provider == provider_id and r.model == model_id]
        price_rows += [r for r in price.inference if r.provider == provider_id and r.model == model_id]
    found += warnings_for(price_rows, file="pricing.yaml", on=on, max_age=max_age, horizon=horizon)
    return found
