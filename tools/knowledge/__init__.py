"""The knowledge base's public face: the shipped fact files it validates, and the checks that span them.

The pieces live in their own modules: :mod:`tools.knowledge.rows` (the fields every row carries, end dates,
today's date), :mod:`tools.knowledge.resolve` (expiry ages and ``from:`` references, applied before
validation), :mod:`tools.knowledge.core` (loading and validation), :mod:`tools.knowledge.ageing` (the
warnings a row calls for), :mod:`tools.knowledge.usage` (what one command used: its notices, and whether a
price may be computed with) and one schema module per file - :mod:`tools.knowledge.providers`,
:mod:`tools.knowledge.pricing`, :mod:`tools.knowledge.gpus`, :mod:`tools.knowledge.training`,
:mod:`tools.knowledge.decision`, :mod:`tools.knowledge.negative` - each with its cached accessor.

This module holds what needs several files at once (:data:`FACT_MODELS`, :func:`cross_check`,
:func:`offering_usage`) and re-exports the names that callers use as ``knowledge.<name>``, so
``from tools import knowledge`` keeps working. New code that needs one row type or one core helper
imports it from its home module. Nothing below imports this module, so there is no import cycle.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from tools.knowledge.core import (
    DEFAULT_HORIZON_DAYS,
    UNKNOWN,
    Fact,
    FactWarning,
    candidates_text,
    fact_date,
    fit_raw,
    is_stale,
    iter_facts,
    iter_rows,
    known_date,
    load_facts,
    load_facts_file,
    max_age_days,
    prepare_raw,
    read_prepared,
    today,
    validate_facts,
    warning_texts,
    warnings_for,
)
from tools.knowledge.decision import Condition, DecisionFile, decision
from tools.knowledge.gpus import GpuOffer, GpusFile, gpus
from tools.knowledge.negative import NegativeFactsFile, negative_facts, violations
from tools.knowledge.pricing import UNIT_TEXT, HostingPrice, InferencePrice, PricingFile, TrainingPrice, pricing
from tools.knowledge.providers import (
    Provider,
    ProviderModel,
    ProvidersFile,
    ServerlessFor,
    Serving,
    providers,
    serving_text,
)
from tools.knowledge.training import Constant, TrainingFile, training
from tools.knowledge.usage import FactUsage, PriceState, price_state

__all__ = [
    # the core (tools.knowledge.core)
    "DEFAULT_HORIZON_DAYS",
    "UNKNOWN",
    "Fact",
    "FactWarning",
    "candidates_text",
    "fact_date",
    "fit_raw",
    "is_stale",
    "iter_facts",
    "iter_rows",
    "known_date",
    "load_facts",
    "load_facts_file",
    "max_age_days",
    "prepare_raw",
    "read_prepared",
    "today",
    "validate_facts",
    "warning_texts",
    "warnings_for",
    # what one command used (tools.knowledge.usage)
    "FactUsage",
    "PriceState",
    "price_state",
    # negative facts (tools.knowledge.negative)
    "NegativeFactsFile",
    "negative_facts",
    "violations",
    # the files, their accessors, and the row types callers name through this module
    "ProvidersFile",
    "Provider",
    "ProviderModel",
    "ServerlessFor",
    "Serving",
    "providers",
    "serving_text",
    "PricingFile",
    "TrainingPrice",
    "InferencePrice",
    "HostingPrice",
    "UNIT_TEXT",
    "pricing",
    "GpusFile",
    "GpuOffer",
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
    "offering_usage",
    "offering_warnings",
]

FACT_MODELS: dict[str, type[BaseModel]] = {
    "providers": ProvidersFile,
    "pricing": PricingFile,
    "gpus": GpusFile,
    "training": TrainingFile,
    "decision": DecisionFile,
    "negative_facts": NegativeFactsFile,
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


def offering_usage(
    provider_id: str, model_id: str | None = None, usage: FactUsage | None = None, method: str | None = None
) -> FactUsage:
    """The rows behind one provider path (and one of its models, and one method): the service, the model, and the
    price rows for them - what select_provider / estimate_cost record when they recommend or price that path."""
    usage = usage or FactUsage()
    prov = providers().provider(provider_id)
    usage.add([prov], file="providers.yaml")
    price = pricing()
    price_rows: list[Fact] = [r for r in price.hosting_for(provider_id)] + price.storage_for(provider_id)
    if model_id is not None:
        usage.add([prov.model(model_id)], file="providers.yaml", context=provider_id)
        price_rows += [
            r
            for r in price.training
            if r.provider == provider_id and r.model == model_id and (method is None or r.method == method)
        ]
        price_rows += [r for r in price.inference if r.provider == provider_id and r.model == model_id]
    usage.add(price_rows, file="pricing.yaml")
    return usage


def offering_warnings(
    provider_id: str,
    model_id: str | None = None,
    *,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
) -> list[FactWarning]:
    """Every warning for a provider path (see :func:`offering_usage`), each once."""
    prov = providers().provider(provider_id)
    rows: list[tuple[list[Fact], str, str | None]] = [([prov], "providers.yaml", None)]
    price = pricing()
    price_rows: list[Fact] = [r for r in price.hosting_for(provider_id)] + price.storage_for(provider_id)
    if model_id is not None:
        rows.append(([prov.model(model_id)], "providers.yaml", provider_id))
        price_rows += [r for r in price.training if r.provider == provider_id and r.model == model_id]
        price_rows += [r for r in price.inference if r.provider == provider_id and r.model == model_id]
    rows.append((price_rows, "pricing.yaml", None))
    found: list[FactWarning] = []
    for group, file, context in rows:
        found += warnings_for(group, file=file, on=on, max_age=max_age, horizon=horizon, context=context)
    return found
