"""The core of the knowledge base: fact rows, loading and validating ``reference/data/*.yaml``, and ageing.

Every fact row carries ``source`` (an http(s) URL) and ``as_of`` (a date); loading fails loudly, naming
the file and the row, when one lacks them. Tools compute only with numbers that come through here.

Facts age. Two things are checked against *today's* date (not the data's):

- a row whose ``as_of`` is older than the allowed age (default 120 days, ``FINETUNE_FACTS_MAX_AGE_DAYS``)
  is *stale*: re-verify it at its source;
- an offering whose ``available_until`` (or ``serving_until``) has passed has *ended*; one that ends
  within the horizon (default 90 days) is *closing*.

Tools that use a row call :func:`warnings_for` (or :func:`warning_texts`) and put the result in their
output. ``FINETUNE_TODAY=YYYY-MM-DD`` pins today's date (tests, reproducible demos).

The schemas of the shipped files live beside this module (``tools/knowledge/providers.py``,
``knowledge_pricing.py``, ``knowledge_gpus.py``, ``knowledge_training.py``, ``knowledge_decision.py``);
:mod:`tools.knowledge` gathers them into one public API. This module imports none of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir

DEFAULT_MAX_AGE_DAYS = 120
DEFAULT_HORIZON_DAYS = 90
UNTIL_FIELDS = ("available_until", "serving_until")

Basis = Literal["primary", "secondary", "derived", "heuristic"]


class Fact(BaseModel):
    """Base of every fact row: where it comes from and when it was true.

    ``basis`` says how direct the source is: ``primary`` (the vendor's or author's own page),
    ``secondary`` (a third-party compilation; verify before relying on it), ``derived`` (our arithmetic
    on cited numbers) or ``heuristic`` (a rule of thumb with its rationale).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    as_of: date
    basis: Basis = "primary"
    note: str | None = None
    review_days: int | None = Field(
        default=None, ge=0, description="days after as_of before this row needs re-checking; default: the global limit"
    )

    @field_validator("source")
    @classmethod
    def _source_is_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"source must be an http(s) URL, got {value[:60]!r}")
        return value


class Dated(Fact):
    """A fact about an offering that starts and may end (a service, a model, a price)."""

    available_from: date | None = None
    available_until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        if self.available_from and self.available_until and self.available_until < self.available_from:
            raise ValueError("available_until is before available_from")
        return self


Facts = TypeVar("Facts", bound=BaseModel)


class KnowledgeError(ToolError):
    def __init__(self, message: str, hint: str = "fix the YAML file; every row needs source and as_of") -> None:
        super().__init__("knowledge_invalid", message, hint)


def data_path(name: str) -> Path:
    return reference_data_dir() / f"{name}.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: missing", "reinstall finetune-skill; reference/data ships with it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise KnowledgeError(f"{path}{where}: not valid YAML ({exc})") from None


def validate_facts(raw: Any, model: type[Facts], label: str) -> Facts:
    """Validate already-parsed YAML with ``model``; errors name the file, the row and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False, include_input=False)
        for err in errors[:5]:
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise KnowledgeError(f"{label}: " + "; ".join(problems) + more) from None


@cache
def load_facts(name: str, model: type[Facts]) -> Facts:
    """Read ``reference/data/<name>.yaml`` and validate it with ``model`` (cached per process)."""
    path = data_path(name)
    return validate_facts(_read_yaml(path), model, path.name)


def load_facts_file(path: Path, model: type[Facts]) -> Facts:
    """Like :func:`load_facts` for any file (not cached): tests and `facts refresh` use it."""
    return validate_facts(_read_yaml(path), model, path.name)


# --------------------------------------------------------------------------------------------------
# Today's date, the allowed age, warnings
# --------------------------------------------------------------------------------------------------


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


WarningKind = Literal["stale", "ended", "closing", "serving_ended", "serving_closing", "not_yet_available"]


class FactWarning(BaseModel):
    """One reason to distrust or re-check a fact a tool used."""

    kind: WarningKind
    file: str | None = None
    row: str
    parent: str | None = Field(default=None, description="the row this one sits in (e.g. the provider of a model)")
    date: date
    days: int = Field(description="days from today to `date` (negative: in the past)")
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


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def row_warnings(
    row: Mapping[str, Any] | BaseModel,
    *,
    file: str | None = None,
    on: date | None = None,
    max_age: int | None = None,
    horizon: int = DEFAULT_HORIZON_DAYS,
    context: str | None = None,
) -> list[FactWarning]:
    """Warnings for one row: stale ``as_of``, ended or closing ``available_until`` / ``serving_until``.

    ``context`` prefixes the row's label (e.g. the provider of a model row).
    """
    data = row.model_dump() if isinstance(row, BaseModel) else dict(row)
    now = on or today()
    own_limit = data.get("review_days")
    limit = max_age if max_age is not None else own_limit if isinstance(own_limit, int) else max_age_days()
    label = row_label(data)
    if context and not label.startswith(context):
        label = f"{context} / {label}"
    source = str(data.get("source", ""))
    found: list[FactWarning] = []

    def add(kind: WarningKind, when: date, summary: str, why: str = "") -> None:
        message = f"{summary} - {why}" if why else summary
        found.append(
            FactWarning(
                kind=kind,
                file=file,
                row=label,
                parent=context,
                date=when,
                days=(when - now).days,
                summary=summary,
                message=message,
                source=source,
            )
        )

    why = data.get("until_note") or data.get("note") or ""
    for field in UNTIL_FIELDS:
        until = _as_date(data.get(field))
        if until is None:
            continue
        if field == "serving_until" and until == _as_date(data.get("available_until")):
            continue
        what = "serving" if field == "serving_until" else "available"
        if until <= now:
            kind: WarningKind = "serving_ended" if field == "serving_until" else "ended"
            text = f"{label}: {'inference stopped' if what == 'serving' else 'ended'} on {until}"
            add(kind, until, text, why)
        elif (until - now).days <= horizon:
            kind = "serving_closing" if field == "serving_until" else "closing"
            days = (until - now).days
            verb = (
                "inference stops"
                if what == "serving"
                else "shuts down"
                if data.get("kind") == "eval_service"
                else "closes to new jobs"
            )
            text = f"{label}: {verb} on {until} (in {days} days)"
            add(kind, until, text, why)
    start = _as_date(data.get("available_from"))
    if start is not None and start > now:
        add("not_yet_available", start, f"{label}: available only from {start}")
    as_of = _as_date(data.get("as_of"))
    if as_of is not None and (now - as_of).days > limit:
        age = (now - as_of).days
        add("stale", as_of, f"{label}: fact dated {as_of} is {age} days old (limit {limit}); re-check {source}")
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
    seen: set[tuple[str, str, date]] = set()
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


def iter_rows(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in parsed YAML that carries ``source`` or ``as_of`` (a fact row), with its path."""
    if isinstance(node, dict):
        if "source" in node or "as_of" in node:
            yield path or "(root)", node
        for key, value in node.items():
            yield from iter_rows(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from iter_rows(value, f"{path}[{i}]")


def iter_facts(model: BaseModel, path: str = "") -> Iterator[tuple[str, Fact]]:
    """Every :class:`Fact` inside a validated model, with its path."""
    if isinstance(model, Fact):
        yield path or "(root)", model
    for name in type(model).model_fields:
        value = getattr(model, name)
        where = f"{path}.{name}" if path else name
        if isinstance(value, BaseModel):
            yield from iter_facts(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from iter_facts(item, f"{where}[{i}]")


def propagate_review_days(model: BaseModel, days: int | None) -> None:
    """Give every fact inside ``model`` the file-level ``review_days`` unless the row sets its own."""
    if days is None:
        return
    for _, fact in iter_facts(model):
        if fact.review_days is None:
            fact.review_days = days
