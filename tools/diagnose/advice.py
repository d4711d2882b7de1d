"""Advice for one finding, fitted to the run: changes it already has, or that do not apply to its model, are
left out and listed as such, each with the setting and the file that says so."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import yaml

from tools.diagnose.facts import Advice, Change
from tools.diagnose.run_config import RunInfo

_COND = re.compile(r"^\s*([A-Za-z_]+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


class Template(dict):
    """Template values; a missing one stays as {name} rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _value(info: RunInfo, name: str, values: Template) -> Any:
    """A setting of the run, the model kind, or else a value the finding computed (steps_saved...)."""
    if name == "model_kind":
        return info.model_kind
    if name in info.settings:
        return info.get(name)
    if name in values:
        parsed = yaml.safe_load(str(values[name]))
        return parsed if isinstance(parsed, (int, float, str)) else None
    return None


def holds(condition: str, info: RunInfo, values: Template) -> bool | None:
    """Whether ``condition`` ("setting op value") is true for this run; None when the setting is unknown."""
    m = _COND.match(condition.format_map(values))
    if not m:
        return None
    name, op, literal = m.groups()
    have = _value(info, name, values)
    if have is None:
        return None
    want = yaml.safe_load(literal)
    if isinstance(want, bool) or isinstance(have, bool):
        if not (isinstance(want, bool) and isinstance(have, bool)) or op not in ("==", "!="):
            return None
    elif isinstance(want, (int, float)) and isinstance(have, (int, float)):
        pass
    elif isinstance(want, str) and isinstance(have, str):
        have, want = have.lower(), want.lower()
        if op not in ("==", "!="):
            return None
    else:
        return None
    return bool(_OPS[op](have, want))


def _said(info: RunInfo, condition: str, values: Template) -> str:
    m = _COND.match(condition.format_map(values))
    name = m.group(1) if m else condition
    source = info.kind_source if name == "model_kind" else info.sources.get(name, "this log")
    return f"{name} is {_value(info, name, values)} ({source})"


def _fits(change: Change, info: RunInfo, values: Template) -> str | None:
    """Why the change is left out, or None when it stands."""
    if change.unless:
        results = [holds(c, info, values) for c in change.unless]
        if all(r is True for r in results):
            return "already done: " + "; ".join(_said(info, c, values) for c in change.unless)
    for c in change.when:
        if holds(c, info, values) is False:
            return "does not apply: " + _said(info, c, values)
    return None


def fitted(advice: Advice, info: RunInfo, values: Template) -> tuple[list[str], list[str], list[str]]:
    """(causes, changes, changes left out with why) for this run."""
    causes = [c.format_map(values) for c in advice.causes]
    changes: list[str] = []
    left_out: list[str] = []
    for item in advice.changes:
        change = Change(text=item) if isinstance(item, str) else item
        text = change.text.format_map(values)
        why = _fits(change, info, values)
        if why is None:
            changes.append(text)
        else:
            left_out.append(f"{text} ({why})")
    return causes, changes, left_out
