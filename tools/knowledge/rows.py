"""Fact rows: the fields every sourced, dated row carries, end dates (``unknown`` included), today's date.

Every fact row carries ``source`` (an http(s) URL) and ``checked`` (the day we read it; ``as_of`` is its
older name); ``source_date`` is the page's own date when it shows one. A row's review clock starts at
:func:`fact_date`: the page's date when the row counts from it (prices: a price is as old as the page that
quotes it), else the day we read it. ``FINETUNE_TODAY=YYYY-MM-DD`` pins today's date (tests, demos).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.core.errors import ToolError

DEFAULT_MAX_AGE_DAYS = 120
DEFAULT_HORIZON_DAYS = 90
UNTIL_FIELDS = ("available_until", "serving_until")
UNKNOWN = "unknown"

Basis = Literal["primary", "secondary", "derived", "heuristic"]
Clock = Literal["source_date", "checked"]
Until = date | Literal["unknown"]


class Fact(BaseModel):
    """Base of every fact row: where it comes from, when the page said it, when we read it.

    ``checked`` is the day we read the source (``as_of`` is its older name and is filled from it);
    ``source_date`` is the page's own date when it shows one (a "last updated" line, a changelog entry).
    ``basis`` says how direct the source is: ``primary`` (the vendor's or author's own page),
    ``secondary`` (a third-party compilation; it never earns a ranking bonus), ``derived`` (our arithmetic
    on cited numbers) or ``heuristic`` (a rule of thumb with its rationale).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    checked: date | None = Field(default=None, description="the day we read the source")
    source_date: date | None = Field(default=None, description="the page's own date, when it shows one")
    as_of: date | None = Field(default=None, description="older name of `checked`")
    basis: Basis = "primary"
    note: str | None = None
    review_days: int | None = Field(
        default=None, ge=0, description="days after its clock date before the row needs re-checking (default: global)"
    )
    clock: Clock = Field(
        default="source_date", description="which date starts the review clock: the page's own date, or our reading"
    )

    @field_validator("source")
    @classmethod
    def _source_is_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"source must be an http(s) URL, got {value[:60]!r}")
        return value

    @model_validator(mode="after")
    def _dated(self) -> Fact:
        if self.checked is None and self.as_of is None:
            raise ValueError("needs `checked` (the day the source was read, YYYY-MM-DD)")
        self.checked = self.checked or self.as_of
        self.as_of = self.as_of or self.checked
        if self.source_date is not None and self.checked is not None and self.source_date > self.checked:
            raise ValueError(f"source_date {self.source_date} is after checked {self.checked}")
        return self

    @property
    def fact_date(self) -> date:
        """The day the review clock starts: see :func:`fact_date`."""
        return fact_date(self)


class UntilCandidate(BaseModel):
    """One source's answer to "when does it end", kept when sources disagree."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = None
    text: str | None = Field(default=None, description="what the source says when it is not a plain date")
    what: Literal["training", "serving", "retirement"] = "retirement"
    said_by: str = Field(description="the page (URL) or package that says it")
    basis: Basis = "primary"


class Dated(Fact):
    """A fact about an offering that starts and may end (a service, a model, a price).

    ``available_until`` is the day it closes to new jobs (for a price: the day the priced offering closes);
    ``serving_until`` the day inference on what it trained stops. Either may be ``unknown``: the sources
    disagree or say nothing definite; ``until_candidates`` then lists what each source says. ``unknown`` is
    never read as "no announced end".
    """

    available_from: date | None = None
    available_until: Until | None = None
    serving_until: Until | None = None
    until_note: str | None = None
    until_candidates: list[UntilCandidate] = []

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        start, until = self.available_from, known_date(self.available_until)
        if start and until and until < start:
            raise ValueError("available_until is before available_from")
        serving = known_date(self.serving_until)
        if until and serving and serving < until:
            raise ValueError("serving_until is before available_until")
        if UNKNOWN in (self.available_until, self.serving_until) and not (self.until_note or self.until_candidates):
            raise ValueError("an `unknown` end date needs until_note or until_candidates saying why")
        return self

    def known_until(self) -> date | None:
        return known_date(self.available_until)

    def known_serving_until(self) -> date | None:
        return known_date(self.serving_until)


class LastKnown(BaseModel):
    """A value we could not confirm at its source this time: shown as "last known", never computed with."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(ge=0)
    dated: date = Field(description="the date of the last source that stated it")
    said_by: str = Field(description="the page (URL) that stated it")
    note: str | None = None


class Expiry(Fact):
    """How long one kind of row may be relied on, counted from its clock date."""

    section: str = Field(description="the list the rows sit in (training, hosting, offers, models...)")
    days: int = Field(ge=1)
    why: str


def known_date(value: Any) -> date | None:
    """A date, or None for a missing or ``unknown`` end."""
    return value if isinstance(value, date) else None


def fact_date(row: Mapping[str, Any] | BaseModel) -> date:
    """When a row's review clock started: its ``checked`` date when the row says ``clock: checked``,
    else the page's own date when it shows one, else ``checked`` (or the older ``as_of``)."""
    data = row if isinstance(row, Mapping) else row.__dict__
    checked = as_date(data.get("checked")) or as_date(data.get("as_of"))
    source = as_date(data.get("source_date"))
    if data.get("clock") == "checked" or source is None:
        return checked or source or date.min
    return source


def as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def today() -> date:
    """Today's date, or ``FINETUNE_TODAY`` when set (YYYY-MM-DD)."""
    pinned = os.environ.get("FINETUNE_TODAY", "").strip()
    if pinned:
        try:
            return date.fromisoformat(pinned)
        except ValueError:
            raise ToolError("bad_today", f"FINETUNE_TODAY={pinned!r} is not a date", "use YYYY-MM-DD") from None
    return date.today()


def max_age_days() -> int:
    """Allowed age of a fact in days: ``FINETUNE_FACTS_MAX_AGE_DAYS`` or 120."""
    raw = os.environ.get("FINETUNE_FACTS_MAX_AGE_DAYS", "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    try:
        value = int(raw)
    except ValueError:
        raise ToolError(
            "bad_max_age",
            f"FINETUNE_FACTS_MAX_AGE_DAYS={raw!r} is not a whole number",
            "give a number of days, e.g. 120",
        ) from None
    if value < 0:
        raise ToolError("bad_max_age", "FINETUNE_FACTS_MAX_AGE_DAYS must not be negative", "e.g. 120")
    return value
