"""Ageing facts: the warnings a row calls for (closed, closing, serving ended, end unknown, past its review
age), checked against *today's* date, not the data's.

- a row older than its age limit (its ``review_days``, from the file's ``expiry``; else 120 days or
  ``FINETUNE_FACTS_MAX_AGE_DAYS``) is *stale*: re-verify it at its source;
- an offering whose ``available_until`` has passed is *closed to new jobs*; whose ``serving_until`` has
  passed has *stopped serving*; either within the horizon (default 90 days) is *closing*;
- ``unknown`` end dates are reported as such, with what each source says.

Tools that use rows collect them in a :class:`tools.knowledge.usage.FactUsage` and print its notices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.knowledge.rows import (
    DEFAULT_HORIZON_DAYS,
    UNKNOWN,
    UNTIL_FIELDS,
    as_date,
    fact_date,
    max_age_days,
    today,
)

WarningKind = Literal[
    "stale", "ended", "closing", "serving_ended", "serving_closing", "end_unknown", "not_yet_available"
]


VALUE_FIELDS = (
    "price_usd",
    "base_input",
    "base_cached_input",
    "base_output",
    "ft_input",
    "ft_cached_input",
    "ft_output",
    "fraction_off",
    "usd_per_gpu_hour",
)
"""The fields of price rows that tools compute with."""


def value_free(row: Mapping[str, Any]) -> bool:
    """A price row with no usable value (null, or kept only as last_known): nothing is computed with it."""
    present = [f for f in VALUE_FIELDS if f in row]
    return bool(present) and all(row[f] is None for f in present)


def ended_offering(row: Mapping[str, Any], now: date) -> bool:
    """An offering that takes no jobs and serves nothing any more: re-checking it changes no decision."""
    if row.get("status") == "ended":
        return True
    known = [as_date(row.get(f)) for f in UNTIL_FIELDS if row.get(f) is not None]
    return bool(known) and all(d is not None and d <= now for d in known)


class FactWarning(BaseModel):
    """One reason to distrust or re-check a fact a tool used."""

    kind: WarningKind
    file: str | None = None
    row: str
    subject: str | None = Field(default=None, description="the provider (or row id) the warning is about")
    parent: str | None = Field(default=None, description="the row this one sits in (e.g. the provider of a model)")
    date: dt.date | None = Field(description="the end date, the row's clock date (stale), or null (end unknown)")
    days: int | None = Field(description="days from today to `date` (negative: in the past)")
    summary: str = Field(description="one line: what ends or aged, and when")
    message: str = Field(description="the summary plus the reason, when the row gives one")
    source: str


def row_label(row: Mapping[str, Any] | BaseModel) -> str:
    """A short human name for a fact row: its provider, model, id, method... whatever it has."""
    data = row.model_dump() if isinstance(row, BaseModel) else row
    parts: list[str] = []
    for key in (
        "provider",
        "name",
        "id",
        "model",
        "gpu",
        "vendor",
        "instance",
        "task",
        "method",
        "deployment",
        "tier",
        "event",
    ):
        value = data.get(key)
        if isinstance(value, str | int | float) and str(value) not in parts:
            parts.append(str(value))
    if "name" in data and "id" in data and len(parts) > 1 and data["name"] in parts:
        parts.remove(str(data["id"]))
    return " / ".join(parts[:4]) if parts else "(row)"


def age_limit(row: Mapping[str, Any] | BaseModel, max_age: int | None = None) -> int:
    """Days a row may be relied on: ``max_age`` when given, else its own ``review_days``, else the global limit."""
    if max_age is not None:
        return max_age
    own = (row if isinstance(row, Mapping) else row.__dict__).get("review_days")
    return own if isinstance(own, int) else max_age_days()


def is_stale(row: Mapping[str, Any] | BaseModel, on: date | None = None, max_age: int | None = None) -> bool:
    """True when the row's clock date is older than its age limit."""
    return ((on or today()) - fact_date(row)).days > age_limit(row, max_age)


def candidates_text(data: Mapping[str, Any]) -> str:
    """What each source says about an unknown end, in one clause."""
    said = []
    for c in data.get("until_candidates") or []:
        c = c.model_dump() if isinstance(c, BaseModel) else c
        when = c.get("text") or c.get("date") or "?"
        said.append(f"{c.get('what', 'retirement')} {when} ({c.get('basis', 'primary')})")
    return "sources say " + "; ".join(said) if said else ""


SHUTDOWN_FILES = frozenset({"agent_models.yaml"})
"""Files whose ``available_until`` is an API model's shutdown (the agent's own models), not a fine-tuning
offering closing to new jobs."""


def _end_texts(
    data: Mapping[str, Any], label: str, now: date, horizon: int, file: str | None = None
) -> list[tuple[WarningKind, date, str]]:
    """(kind, date, summary) for the known end dates of one row, worded by what ends."""
    until = as_date(data.get("available_until"))
    serving = as_date(data.get("serving_until"))
    service = data.get("kind") == "eval_service" or file in SHUTDOWN_FILES
    out: list[tuple[WarningKind, date, str]] = []
    both = until is not None and serving == until
    if until is not None:
        if until <= now:
            what = "shut down" if service else "closed to new jobs" + (" and stopped serving" if both else "")
            out.append(("ended", until, f"{label}: {what} on {until}"))
        elif (until - now).days <= horizon:
            what = "shuts down" if service else "closes to new jobs" + (" and stops serving" if both else "")
            out.append(("closing", until, f"{label}: {what} on {until} (in {(until - now).days} days)"))
    if serving is not None and not both:
        if serving <= now:
            out.append(("serving_ended", serving, f"{label}: serving ended on {serving}"))
        elif (serving - now).days <= horizon:
            out.append(
                ("serving_closing", serving, f"{label}: serving ends on {serving} (in {(serving - now).days} days)")
            )
    return out


def row_warnings(
    row: Mapping[str, Any] | BaseModel,
    *,
    file: str | None = None,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
    context: str | None = None,
) -> list[FactWarning]:
    """Warnings for one row: past its review age, closed or closing to new jobs, serving ended or ending,
    end date unknown. ``context`` prefixes the row's label (e.g. the provider of a model row)."""
    data = row.model_dump() if isinstance(row, BaseModel) else dict(row)
    now = on or today()
    limit = age_limit(data, max_age)
    label = row_label(data)
    if context and not label.startswith(context):
        label = f"{context} / {label}"
    source = str(data.get("source", ""))
    found: list[FactWarning] = []

    def add(kind: WarningKind, when: date | None, summary: str, why: str = "") -> None:
        message = f"{summary} - {why}" if why else summary
        days = (when - now).days if when is not None else None
        found.append(
            FactWarning(
                kind=kind,
                file=file,
                row=label,
                subject=context or data.get("provider") or data.get("id"),
                parent=context,
                date=when,
                days=days,
                summary=summary,
                message=message,
                source=source,
            )
        )

    why = data.get("until_note") or data.get("note") or ""
    for kind, when, text in _end_texts(data, label, now, horizon, file):
        add(kind, when, text, why)
    unknown = [f for f in UNTIL_FIELDS if data.get(f) == UNKNOWN]
    if unknown:
        what = "end date" if len(unknown) == 2 else "closing date" if unknown[0] == "available_until" else "serving end"
        add("end_unknown", None, f"{label}: {what} unknown", candidates_text(data) or why)
    start = as_date(data.get("available_from"))
    if start is not None and start > now:
        add("not_yet_available", start, f"{label}: available only from {start}")
    when = fact_date(data)
    aged = when != date.min and (now - when).days > limit
    if aged and not ended_offering(data, now) and not value_free(data):
        age = (now - when).days
        dated = "page dated" if data.get("clock") != "checked" and data.get("source_date") else "last checked"
        add("stale", when, f"{label}: {dated} {when}, {age} days ago (limit {limit}); re-check {source}")
    return found


def warnings_for(
    rows: Iterable[Mapping[str, Any] | BaseModel | None],
    *,
    file: str | None = None,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
    context: str | None = None,
) -> list[FactWarning]:
    """Warnings for every row a tool used (None rows are skipped); put them in the tool's output."""
    out: list[FactWarning] = []
    seen: set[tuple[str, str, date | None]] = set()
    for row in rows:
        if row is None:
            continue
        for warning in row_warnings(row, file=file, on=on, max_age=max_age, horizon=horizon, context=context):
            key = (warning.kind, warning.row, warning.date)
            if key not in seen:
                seen.add(key)
                out.append(warning)
    return out


def warning_texts(rows: Iterable[Mapping[str, Any] | BaseModel | None], **kwargs: Any) -> list[str]:
    """:func:`warnings_for` as plain sentences, for outputs that carry ``warnings: list[str]``."""
    return [w.message for w in warnings_for(rows, **kwargs)]
