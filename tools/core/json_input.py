"""JSON from people and models (tool arguments, answers, anchors): parsed with limits, failing clearly.

``json.loads`` alone lets hostile input through as tracebacks: an integer of more than 4,300 digits raises
ValueError, deep nesting RecursionError or a long stall. These limits keep every surface answering with a
``ToolError`` that names the source.
"""

from __future__ import annotations

import json
from typing import Any

from tools.core.errors import ToolError

MAX_DEPTH = 64
"""Nesting depth of tool arguments (the deepest real schema nests 4 levels)."""


def nesting_depth(text: str) -> int:
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(text: str, *, source: str, hint: str) -> Any:
    """``text`` as JSON, or ``args_not_json`` naming ``source`` with the line and column."""
    if nesting_depth(text) > MAX_DEPTH:
        raise ToolError("args_too_deep", f"{source}: nested more than {MAX_DEPTH} levels deep", hint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            "args_not_json", f"{source}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", hint
        ) from None
    except (ValueError, RecursionError) as exc:
        what = "a number too long to read" if "digits" in str(exc) else "not readable JSON"
        raise ToolError("args_not_json", f"{source}: {what}", hint) from None


def load_json_object(text: str, *, source: str, hint: str) -> dict[str, Any]:
    value = load_json(text, source=source, hint=hint)
    if not isinstance(value, dict):
        raise ToolError(
            "args_not_object", f"{source}: arguments must be a JSON object, got {type(value).__name__}", hint
        )
    return value
