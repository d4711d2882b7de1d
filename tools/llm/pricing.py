"""Prices and defaults for the models the agent itself runs on, from reference/data/agent_models.yaml.

Numbers never live in code: this module reads the YAML through :func:`tools.knowledge.load_facts`
and does the arithmetic. A dated snapshot id (``claude-haiku-4-5-20251001``,
``gpt-5.4-mini-2026-03-17``) is priced by the row of its undated name.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts
from tools.llm.base import Usage

Provider = Literal["anthropic", "openai"]

_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


class AgentModel(Fact):
    """One model the agent can run on, with its API prices in USD per 1M tokens."""

    provider: Provider
    model: str
    default: bool = False
    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None
    cache_write_per_1m: float | None = None
    basis: Literal["primary", "secondary", "derived", "heuristic"] = "primary"
    note: str | None = None
    available_until: date | None = None

    def cost(self, usage: Usage) -> float:
        """Estimated USD for ``usage``; cache reads/writes without a published price count as input."""
        cached = self.cached_input_per_1m if self.cached_input_per_1m is not None else self.input_per_1m
        written = self.cache_write_per_1m if self.cache_write_per_1m is not None else self.input_per_1m
        total = (
            usage.uncached_input_tokens * self.input_per_1m
            + usage.cached_tokens * cached
            + usage.cache_write_tokens * written
            + usage.output_tokens * self.output_per_1m
        )
        return round(total / 1_000_000, 8)


class AgentModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[AgentModel]

    @model_validator(mode="after")
    def _one_default_each(self) -> AgentModelsFile:
        for provider in ("anthropic", "openai"):
            defaults = [m.model for m in self.models if m.provider == provider and m.default]
            if len(defaults) != 1:
                raise ValueError(f"{provider} needs exactly one row with default: true (found {defaults or 'none'})")
        seen: set[str] = set()
        for row in self.models:
            if row.model in seen:
                raise ValueError(f"model {row.model} is listed twice")
            seen.add(row.model)
        return self


def agent_models() -> AgentModelsFile:
    return load_facts("agent_models", AgentModelsFile)


def undated(model: str) -> str:
    """``claude-haiku-4-5-20251001`` -> ``claude-haiku-4-5``; other ids unchanged."""
    return _SNAPSHOT.sub("", model)


def find_model(model: str) -> AgentModel | None:
    """The price row for ``model`` (exact id, or its undated name), or None."""
    rows = {row.model: row for row in agent_models().models}
    return rows.get(model) or rows.get(undated(model))


def default_model(provider: Provider) -> str:
    return next(row.model for row in agent_models().models if row.provider == provider and row.default)


def known_models(provider: Provider) -> list[str]:
    return [row.model for row in agent_models().models if row.provider == provider]


def model_notice(model: str, today: date | None = None, horizon_days: int = 90) -> str | None:
    """A line for the terminal when the agent's model has stopped or stops soon (from available_until)."""
    row = find_model(model)
    if row is None or row.available_until is None:
        return None
    today = today or date.today()
    left = (row.available_until - today).days
    if left <= 0:
        return f"{model} was shut down on {row.available_until}; pick another with --model"
    if left <= horizon_days:
        return f"{model} shuts down on {row.available_until} (in {left} days)"
    return None


def check_provider(model: str, provider: Provider) -> None:
    """Refuse a model the price table files under the other provider (``--backend anthropic --model gpt-5.4``)."""
    row = find_model(model)
    if row is not None and row.provider != provider:
        raise ToolError(
            "llm_unknown_model",
            f"{model} is an {row.provider} model, not an {provider} one",
            f"use --backend {row.provider}, or one of: {', '.join(known_models(provider))}",
        )
