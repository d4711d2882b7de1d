"""The core of the knowledge base: loading and validating ``reference/data/*.yaml``.

Loading fails loudly, naming the file and the row, when a row lacks its source or date. Before validation
a file's references to other files are resolved and its expiry ages applied (:mod:`tools.knowledge.resolve`).
Tools compute only with numbers that come through here.

The row types (:mod:`tools.knowledge.rows`) and the ageing warnings (:mod:`tools.knowledge.ageing`) are
re-exported here. The schemas of the shipped files live beside this module (``providers.py``,
``pricing.py``, ``gpus.py``, ``training.py``, ``decision.py``); :mod:`tools.knowledge` gathers them into
one public API. This module imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir
from tools.knowledge.ageing import (
    FactWarning,
    WarningKind,
    age_limit,
    candidates_text,
    is_stale,
    row_label,
    row_warnings,
    warning_texts,
    warnings_for,
)
from tools.knowledge.resolve import ResolveError, apply_expiry, resolve_refs
from tools.knowledge.rows import (
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MAX_AGE_DAYS,
    UNKNOWN,
    UNTIL_FIELDS,
    Basis,
    Clock,
    Dated,
    Expiry,
    Fact,
    LastKnown,
    Until,
    UntilCandidate,
    fact_date,
    known_date,
    max_age_days,
    today,
)

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_MAX_AGE_DAYS",
    "UNKNOWN",
    "UNTIL_FIELDS",
    "Basis",
    "Clock",
    "Dated",
    "Expiry",
    "Fact",
    "FactWarning",
    "KnowledgeError",
    "LastKnown",
    "Until",
    "UntilCandidate",
    "WarningKind",
    "age_limit",
    "candidates_text",
    "data_path",
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
    "propagate_review_days",
    "read_prepared",
    "row_label",
    "row_warnings",
    "today",
    "validate_facts",
    "warning_texts",
    "warnings_for",
]

Facts = TypeVar("Facts", bound=BaseModel)


class KnowledgeError(ToolError):
    def __init__(self, message: str, hint: str = "fix the YAML file; every row needs source and checked") -> None:
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


def prepare_raw(raw: Any, label: str, folder: Path | None = None) -> Any:
    """Parsed YAML with references to other files resolved and expiry ages applied (see :mod:`.resolve`)."""
    where = folder or reference_data_dir()

    def read(name: str) -> Any:
        return apply_expiry(_read_yaml(where / f"{name}.yaml"))

    try:
        return apply_expiry(resolve_refs(raw, read, label))
    except ResolveError as exc:
        raise KnowledgeError(str(exc), "fix the `from` or `expiry` entry") from None


def fit_raw(raw: Any, model: type[BaseModel]) -> Any:
    """Drop the file-level review keys a model does not declare (they were applied to the rows)."""
    if isinstance(raw, dict):
        for key in ("review_days", "expiry"):
            if key in raw and key not in model.model_fields:
                raw = {k: v for k, v in raw.items() if k != key}
    return raw


@cache
def load_facts(name: str, model: type[Facts]) -> Facts:
    """Read ``reference/data/<name>.yaml`` and validate it with ``model`` (cached per process)."""
    path = data_path(name)
    return validate_facts(fit_raw(prepare_raw(_read_yaml(path), path.name), model), model, path.name)


def load_facts_file(path: Path, model: type[Facts]) -> Facts:
    """Like :func:`load_facts` for any file (not cached): tests and `facts refresh` use it. References to other
    files resolve in the file's own folder."""
    raw = prepare_raw(_read_yaml(path), path.name, path.parent)
    return validate_facts(fit_raw(raw, model), model, path.name)


def read_prepared(path: Path) -> Any:
    """A fact file parsed and prepared, unvalidated (``facts check`` walks it row by row)."""
    return prepare_raw(_read_yaml(path), path.name, path.parent)


def iter_rows(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict in parsed YAML that carries ``source``, ``checked`` or ``as_of`` (a fact row), with its path."""
    if isinstance(node, dict):
        if "source" in node or "as_of" in node or "checked" in node:
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
