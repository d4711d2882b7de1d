"""What one command used from reference/data, and what to tell the user about it.

A tool adds the rows it used to a :class:`FactUsage` (with the file they come from) and puts
:meth:`FactUsage.notices` in its output: every end date once (closed, closing, serving ended or ending,
unknown), and the rows past their review age in *one* line, so a command that used twenty aged defaults
prints one notice, not twenty, and a row used twice is reported once.

Prices age faster (each file's ``expiry``): :func:`price_state` says whether a price may be computed with.
A price past its expiry, or one the data keeps only as ``last_known``, is *unconfirmed*: tools show it as
"last known $X on DATE, unconfirmed" and never add it into a total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from tools.knowledge.ageing import FactWarning, age_limit, warnings_for
from tools.knowledge.rows import DEFAULT_HORIZON_DAYS, fact_date, today


def stale_line(stale: list[FactWarning]) -> str:
    """One sentence for every row past its review age."""
    oldest = min(stale, key=lambda w: w.date or date.max)
    n = len(stale)
    many = n != 1
    return (
        f"{n} fact{'s' if many else ''} used here {'are' if many else 'is'} past {'their' if many else 'its'} "
        f"review age (oldest: {oldest.row} in {oldest.file or 'reference/data'}, dated {oldest.date}); "
        "`finetune facts check` lists them with their sources"
    )


class FactUsage:
    """The fact rows one command used, and the notices they call for."""

    def __init__(self, on: date | None = None, horizon: int = DEFAULT_HORIZON_DAYS) -> None:
        self.on = on or today()
        self.horizon = horizon
        self._used: list[tuple[Mapping[str, Any] | BaseModel, str | None, str | None]] = []
        self._seen: set[tuple[int, str | None, str | None]] = set()

    def add(
        self,
        rows: Iterable[Mapping[str, Any] | BaseModel | None],
        *,
        file: str | None = None,
        context: str | None = None,
    ) -> FactUsage:
        for row in rows:
            key = (id(row), file, context)
            if row is not None and key not in self._seen:
                self._seen.add(key)
                self._used.append((row, file, context))
        return self

    def warnings(self) -> list[FactWarning]:
        """Every warning, each (kind, row, date) once."""
        out: list[FactWarning] = []
        seen: set[tuple[str, str, date | None]] = set()
        for row, file, context in self._used:
            for w in warnings_for([row], file=file, on=self.on, horizon=self.horizon, context=context):
                key = (w.kind, w.row, w.date)
                if key not in seen:
                    seen.add(key)
                    out.append(w)
        return out

    def notices(self, *, stale: bool = True) -> list[str]:
        """End-date notices, then one line for all rows past their review age. One event is told once: the rows
        of one provider that close (or stop serving) on the same day give one notice, the first (most general)."""
        found = self.warnings()
        events: dict[tuple[str | None, str, date | None], str] = {}
        for w in found:
            if w.kind != "stale":
                events.setdefault((w.subject or w.row, w.kind, w.date), w.message)
        out = list(dict.fromkeys(events.values()))
        aged = [w for w in found if w.kind == "stale"]
        if stale and aged:
            out.append(stale_line(aged))
        return out


class PriceState(BaseModel):
    """Whether a price may be computed with today."""

    status: Literal["confirmed", "unconfirmed", "unknown"]
    value: float | None = None
    last_known: float | None = None
    last_known_on: date | None = None
    limit_days: int
    reason: str = ""

    def describe(self, money: Callable[[float], str], unit: str) -> str:
        """ "$2.00 per 1M tokens", "last known $1.70 per hour on 2026-02-11, unconfirmed (...)" or "unknown"."""
        if self.status == "confirmed" and self.value is not None:
            return f"{money(self.value)} {unit}"
        if self.status == "unconfirmed" and self.last_known is not None:
            return f"last known {money(self.last_known)} {unit} on {self.last_known_on}, unconfirmed ({self.reason})"
        return "unknown" + (f" ({self.reason})" if self.reason else "")


def price_state(row: BaseModel, value: float | None, on: date | None = None) -> PriceState:
    """``value`` (a price field of ``row``) checked against the row's expiry: confirmed while its clock date is
    within ``review_days``; unconfirmed after that, or when the data keeps only ``last_known``."""
    now = on or today()
    limit = age_limit(row)
    if value is not None:
        when = fact_date(row)
        if (now - when).days > limit:
            return PriceState(
                status="unconfirmed",
                last_known=value,
                last_known_on=when,
                limit_days=limit,
                reason=f"older than {limit} days; re-check {getattr(row, 'source', '')}",
            )
        return PriceState(status="confirmed", value=value, limit_days=limit)
    last = getattr(row, "last_known", None)
    if last is not None:
        checked = getattr(row, "checked", None)
        return PriceState(
            status="unconfirmed",
            last_known=last.value,
            last_known_on=last.dated,
            limit_days=limit,
            reason=(last.note or f"not found at {getattr(row, 'source', '')}")
            + (f"; looked on {checked}" if checked else ""),
        )
    return PriceState(status="unknown", limit_days=limit, reason=getattr(row, "note", None) or "not in our data")
