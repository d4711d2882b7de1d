"""What the migrate tools know about an OpenAI fine-tune: its base snapshot, the dates of that base (from
providers.yaml and pricing.yaml), its per-token prices (standard and Batch API), and the settings and
replacement sizes of ``reference/data/migration.yaml``.

Dates and prices are never typed here: a fine-tuned model's serving end is the earlier of the base model's
``serving_until`` in providers.yaml and the ``serving_until`` of its inference price rows, and "closes to new
jobs" is the model's (or the service's) ``available_until``. Every row used is recorded in a
:class:`tools.knowledge.FactUsage`, so the tools print each end date once and one line for aged rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.money import money
from tools.knowledge.core import Fact, load_facts
from tools.knowledge.pricing import Discount, InferencePrice

PROVIDER = "openai"
MIGRATIONS_DIR = "migrations"


class Setting(Fact):
    name: str
    value: int | float | str
    why: str


class Replacement(Fact):
    """Where to start looking for a replacement of one OpenAI base family."""

    openai_family: str
    start_bases: list[str] = Field(min_length=1)
    next_bases: list[str] = []


class OpenWeightBase(Fact):
    id: str
    params_b: float
    licence: str
    together_id: str | None = Field(
        default=None, description="Together's id of this base, when Together fine-tunes and serves it"
    )


class MigrationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: list[Setting]
    replacements: list[Replacement]
    bases: list[OpenWeightBase]

    def base(self, base_id: str) -> OpenWeightBase | None:
        return next((b for b in self.bases if b.id == base_id), None)

    def replacement(self, openai_base: str) -> Replacement | None:
        """The row of the family ``openai_base`` belongs to (the longest family name that prefixes it)."""
        rows = [r for r in self.replacements if openai_base.startswith(r.openai_family)]
        return max(rows, key=lambda r: len(r.openai_family)) if rows else None

    @model_validator(mode="after")
    def _known_bases(self) -> MigrationFile:
        ids = {b.id for b in self.bases}
        for r in self.replacements:
            unknown = [b for b in (*r.start_bases, *r.next_bases) if b not in ids]
            if unknown:
                raise ValueError(f"replacements {r.openai_family}: bases not in `bases`: {', '.join(unknown)}")
        return self

    def setting(self, name: str) -> Setting:
        for row in self.settings:
            if row.name == name:
                return row
        raise ToolError(
            "knowledge_invalid", f"migration.yaml has no setting {name!r}", "reinstall finetune-skill (shipped data)"
        )


def migration() -> MigrationFile:
    """``reference/data/migration.yaml``, validated (every row has its source and date)."""
    return load_facts("migration", MigrationFile)


def setting(name: str) -> Any:
    return migration().setting(name).value


# ----------------------------------------------------------------------------- model ids

_FT = re.compile(r"^ft:(?P<base>[^:]+)(?::(?P<rest>.*))?$")


def base_of(model: str) -> str:
    """The base snapshot of an OpenAI model id: ``ft:gpt-4o-mini-2024-07-18:org:name:abc`` -> the snapshot;
    a base id is its own base."""
    text = model.strip()
    match = _FT.match(text)
    if match:
        return match.group("base")
    if not text or text.startswith("ft:"):
        raise ToolError(
            "bad_model_id",
            f"{model!r} is not an OpenAI model id",
            "give the fine-tuned model's id as OpenAI lists it, e.g. ft:gpt-4o-mini-2024-07-18:my-org:support:AbC123",
        )
    return text


def slug(model: str) -> str:
    """A folder name for one migration: the model id without ``ft:`` and with safe characters only."""
    text = model.strip()
    text = text[3:] if text.startswith("ft:") else text
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:120] or "model"


def folder_of(model: str) -> str:
    """The workspace-relative folder where one model's migration files live."""
    return f"{MIGRATIONS_DIR}/{slug(model)}"


# ----------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class ModelDates:
    """What the facts say about how long a model (a fine-tune of ``base``) lasts."""

    base: str
    known: bool  # the base is a fine-tunable OpenAI model in providers.yaml
    closes: date | None  # no new fine-tuning jobs from this day
    serving_until: date | None  # inference stops on this day
    today: date
    note: str | None

    @property
    def days_left(self) -> int | None:
        return None if self.serving_until is None else (self.serving_until - self.today).days

    @property
    def serving(self) -> bool:
        """False once the serving end has come (unknown ends count as still serving)."""
        return self.serving_until is None or self.today < self.serving_until

    @property
    def status(self) -> str:
        if not self.known:
            return "unknown"
        if not self.serving:
            return "ended"
        return "ending" if self.serving_until is not None else "serving"

    def describe(self) -> str:
        """The dates in words: closes to new jobs, serving ends, days left."""
        if not self.known:
            return f"{self.base} is not a fine-tunable OpenAI model in providers.yaml; its serving end is unknown"
        parts = []
        if self.closes is not None:
            verb = "closed" if self.closes <= self.today else "closes"
            parts.append(f"{verb} to new fine-tuning jobs on {self.closes}")
        if self.serving_until is None:
            parts.append("no known serving end")
        elif self.serving:
            parts.append(f"serving ends on {self.serving_until} ({self.days_left} days left)")
        else:
            parts.append(f"stopped serving on {self.serving_until}")
        return f"{self.base}: " + "; ".join(parts)


def inference_rows(base: str) -> list[InferencePrice]:
    return [r for r in knowledge.pricing().inference if r.provider == PROVIDER and r.model == base]


def model_dates(base: str, usage: knowledge.FactUsage | None = None) -> ModelDates:
    """The dates of a fine-tune of ``base`` from providers.yaml and pricing.yaml (rows recorded in ``usage``)."""
    today = knowledge.today()
    prov = knowledge.providers().provider(PROVIDER)
    row = next((m for m in prov.models if m.id == base), None)
    if usage is not None:
        usage.add([prov], file="providers.yaml")
    if row is None:
        return ModelDates(base, False, knowledge.known_date(prov.available_until), None, today, prov.until_note)
    prices = inference_rows(base)
    if usage is not None:
        usage.add([row], file="providers.yaml", context=PROVIDER)
        usage.add(prices, file="pricing.yaml")
    ends = [d for d in (prov.model_serving_until(row), *(r.known_serving_until() for r in prices)) if d is not None]
    return ModelDates(
        base, True, prov.model_until(row), min(ends) if ends else None, today, row.until_note or prov.until_note
    )


def refuse_if_ended(dates: ModelDates, model: str, what: str) -> None:
    """ToolError once the model no longer serves: its answers can no longer be asked for."""
    if dates.serving:
        return
    raise ToolError(
        "model_retired",
        f"{model} stopped serving on {dates.serving_until} (today is {dates.today}): {what}",
        "golden outputs recorded before that day (migrations/<model>/golden.json) can still be compared; "
        "otherwise compare the replacement with the reference answers of the training data (finetune eval)",
    )


# ----------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class Rates:
    """Per-1M-token rates of one way of calling a fine-tuned OpenAI model, and whether they may be computed with."""

    tier: str  # standard | batch
    input_usd: float | None
    output_usd: float | None
    status: str  # confirmed | unconfirmed | unknown
    text: str
    basis: str

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        if self.status != "confirmed" or self.input_usd is None or self.output_usd is None:
            return None
        return (input_tokens * self.input_usd + output_tokens * self.output_usd) / 1_000_000


def _rates_of(row: InferencePrice, tier: str, basis: str) -> Rates:
    state_in = knowledge.price_state(row, row.ft_input)
    state_out = knowledge.price_state(row, row.ft_output)
    if state_in.status == "confirmed" and state_out.status == "confirmed":
        text = f"in {money(state_in.value or 0)}, out {money(state_out.value or 0)} per 1M tokens"
        return Rates(tier, state_in.value, state_out.value, "confirmed", text, basis)
    status = "unconfirmed" if "unconfirmed" in (state_in.status, state_out.status) else "unknown"
    text = f"input {state_in.describe(money, 'per 1M tokens')}; output {state_out.describe(money, 'per 1M tokens')}"
    return Rates(tier, None, None, status, text, basis)


def _batch_discount() -> Discount | None:
    return next(
        (
            d
            for d in knowledge.pricing().discounts
            if d.provider == PROVIDER and d.applies_to == "inference" and d.kind == "batch"
        ),
        None,
    )


def rates(base: str, usage: knowledge.FactUsage) -> list[Rates]:
    """Standard and Batch API rates of a fine-tune of ``base``: the pricing rows of each tier; a Batch rate with no
    row of its own is the standard one less the Batch discount (pricing.yaml discounts)."""
    rows = {r.tier: r for r in inference_rows(base)}
    out: list[Rates] = []
    standard = rows.get("standard")
    if standard is None:
        return [Rates("standard", None, None, "unknown", f"no price for {base} in pricing.yaml", "")]
    usage.add([standard], file="pricing.yaml")
    out.append(_rates_of(standard, "standard", f"pricing.yaml openai / {base} / standard ({standard.source})"))
    batch = rows.get("batch")
    if batch is not None:
        usage.add([batch], file="pricing.yaml")
        out.append(_rates_of(batch, "batch", f"pricing.yaml openai / {base} / batch ({batch.source})"))
        return out
    discount = _batch_discount()
    if discount is None:
        return out
    usage.add([discount], file="pricing.yaml")
    off = knowledge.price_state(discount, discount.fraction_off)
    base_rates = out[0]
    if off.status != "confirmed" or off.value is None or base_rates.status != "confirmed":
        out.append(Rates("batch", None, None, "unknown", "Batch discount or standard price unconfirmed", ""))
        return out
    factor = 1 - off.value
    assert base_rates.input_usd is not None and base_rates.output_usd is not None
    inp, outp = base_rates.input_usd * factor, base_rates.output_usd * factor
    text = f"in {money(inp)}, out {money(outp)} per 1M tokens (standard less the {off.value:.0%} Batch discount)"
    out.append(
        Rates("batch", inp, outp, "confirmed", text, f"pricing.yaml discounts openai / batch ({discount.source})")
    )
    return out


__all__ = [
    "MIGRATIONS_DIR",
    "PROVIDER",
    "MigrationFile",
    "ModelDates",
    "OpenWeightBase",
    "Rates",
    "Replacement",
    "base_of",
    "folder_of",
    "inference_rows",
    "migration",
    "model_dates",
    "rates",
    "refuse_if_ended",
    "setting",
    "slug",
]
