"""What prepare_data reads from a row, so that nothing is left out unseen.

For every input format this module knows which keys the reader turns into the conversation (and which
keys inside each message). Any other key or column with a value is reported as dropped, so "lossless"
is only said when every non-empty field of every row is carried into the output. It also maps
non-standard role names and finds the rows whose prompt or answer is empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tools.data.formats import Conversation

Spec = Mapping[str, "Spec | None"]
"""Keys read from an object; the value says which keys are read inside it (None: the value is read whole)."""

_MESSAGE: Spec = {"role": None, "content": None, "tool_calls": None, "tool_call_id": None, "name": None, "weight": None}
_TURN: Spec = {"role": None, "content": None}
_READ: dict[str, Spec] = {
    "openai_chat": {"messages": _MESSAGE, "tools": None, "parallel_tool_calls": None},
    "openai_preference": {
        "input": {"messages": _MESSAGE, "tools": None},
        "preferred_output": _MESSAGE,
        "non_preferred_output": _MESSAGE,
    },
    "bedrock_nova": {"schemaVersion": None, "system": None, "messages": _TURN},
    "bedrock_haiku": {"system": None, "messages": _TURN},
    "vertex_gemini": {"systemInstruction": None, "contents": {"role": None, "parts": None}, "tools": None},
    "prompt_completion": {"prompt": _MESSAGE, "completion": _MESSAGE},
    "text": {"text": None},
    "preference": {"prompt": _MESSAGE, "chosen": _MESSAGE, "rejected": _MESSAGE},
    "alpaca": {"system": None, "instruction": None, "input": None, "output": None, "response": None},
    "sharegpt": {"conversations": {"from": None, "role": None, "value": None, "content": None}},
}
ROLES = ("system", "user", "assistant", "tool")


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, dict)):
        return not value
    return False


def _unread(obj: Mapping[str, Any], spec: Spec, prefix: str) -> Iterator[str]:
    for key, value in obj.items():
        if is_empty(value):
            continue
        name = f"{prefix}{key}"
        if key not in spec:
            yield name
            continue
        inner = spec[key]
        if inner is None:
            continue
        if isinstance(value, dict):
            yield from _unread(value, inner, name + ".")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _unread(item, inner, name + "[].")


def unread_keys(row: Mapping[str, Any], fmt: str) -> set[str]:
    """Keys (dotted, ``[]`` for list items) of a row in ``fmt`` that hold a value the reader does not take."""
    spec = dict(_READ[fmt])
    if fmt == "alpaca" and "output" in row:
        spec.pop("response")  # the reader takes output and ignores response when both are there
    return set(_unread(row, spec, ""))


def mapped_columns(mapping: Mapping[str, str]) -> set[str]:
    """The columns a field mapping reads (text alone wins over the rest; completion over chosen)."""
    if "text" in mapping and "prompt" not in mapping:
        return {mapping["text"]}
    cols = {mapping[f] for f in ("system", "prompt", "rejected") if f in mapping}
    if "completion" in mapping:
        cols.add(mapping["completion"])
    elif "chosen" in mapping:
        cols.add(mapping["chosen"])
    return cols


def unread_columns(row: Mapping[Any, Any], read: set[str]) -> set[str]:
    return {str(k) for k, v in row.items() if str(k) not in read and not is_empty(v)}


def map_roles(obj: Any, names: Mapping[str, str]) -> Any:
    """A copy of ``obj`` in which every message's ``role`` (or ShareGPT ``from``) found in ``names`` is renamed."""
    if not names:
        return obj
    if isinstance(obj, list):
        return [_renamed(x, names) if isinstance(x, dict) else map_roles(x, names) for x in obj]
    if isinstance(obj, dict):
        return {k: map_roles(v, names) for k, v in obj.items()}
    return obj


def _renamed(msg: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    out = {k: map_roles(v, names) for k, v in msg.items()}
    for key in ("role", "from"):
        value = out.get(key)
        if isinstance(value, str) and value in names:
            out[key] = names[value]
    return out


def odd_roles(conv: Conversation) -> list[str]:
    """Role names that are none of system, user, assistant and tool (after aliases and the role mapping)."""
    return [m.role for m in [*conv.messages, *(conv.rejected or [])] if m.role not in ROLES]


def empty_reason(conv: Conversation) -> str | None:
    """Why the example has nothing to learn from (an empty prompt or answer), or None."""
    if conv.text is not None:
        return "empty text" if is_empty(conv.text) else None
    for i, m in enumerate(conv.messages, 1):
        if m.role == "user" and is_empty(m.content) and not m.images:
            return f"empty prompt (message {i})"
        if m.role == "assistant" and is_empty(m.content) and not m.tool_calls and not m.images:
            return f"empty answer (message {i})"
    if not any(m.role == "user" for m in conv.messages):
        return "no prompt (no user turn)"
    if not any(m.role == "assistant" for m in conv.messages):
        return "no answer (no assistant turn)"
    if conv.rejected is not None and all(is_empty(m.content) and not m.tool_calls for m in conv.rejected):
        return "empty rejected answer"
    return None
