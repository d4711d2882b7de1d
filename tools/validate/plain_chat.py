"""The common case of an OpenAI chat line, read and checked in one pass.

Most lines of a real chat file are plain: ``{"messages": [...]}`` where every message is exactly
``{"role", "content"}`` with a system, user or assistant role and non-empty string content.
:func:`read_plain_chat` reads such a line straight into a :class:`~tools.data.formats.Conversation` and
returns the findings :func:`~tools.data.format_rules.check_line` would give it, in about a third of the
time of ``normalise`` + ``check_line``. Anything else (tools, content parts, weights, names, empty
content, unknown keys or roles, odd types) returns None and takes the general path, which owns
every finding about it. tests/test_plain_chat.py proves the two paths agree.
"""

from __future__ import annotations

from typing import Any

from tools.data.format_rules import Issue, check_order
from tools.data.formats import Conversation, Message, TargetFact

_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def read_plain_chat(
    obj: dict[str, Any], target: TargetFact, reserved: list[str]
) -> tuple[Conversation, list[Issue]] | None:
    """(conversation, findings) of a plain chat line for ``target``; None when the line is not plain."""
    if len(obj) != 1 or "openai_chat" not in target.formats or (target.reserved_strings and reserved):
        return None
    msgs = obj.get("messages")
    if type(msgs) is not list or not msgs:
        return None
    allowed = target.roles
    out: list[Message] = []
    for m in msgs:
        if type(m) is not dict or len(m) != 2:
            return None
        role = m.get("role")
        content = m.get("content")
        if (
            type(content) is not str
            or type(role) is not str
            or role not in _PLAIN_ROLES
            or role not in allowed
            or not content.strip()
        ):
            return None
        out.append(Message(role, content))
    conv = Conversation(out)
    return conv, list(_order_issues(tuple([m.role for m in out]), target))


_ORDER_CACHE: dict[tuple[str, tuple[str, ...]], tuple[Issue, ...]] = {}


def _order_issues(roles: tuple[str, ...], target: TargetFact) -> tuple[Issue, ...]:
    """check_order's findings, which depend only on the role sequence: a file has few distinct ones."""
    key = (target.id, roles)
    found = _ORDER_CACHE.get(key)
    if found is None:
        issues: list[Issue] = []
        check_order(Conversation([Message(role) for role in roles]), "openai_chat", target, issues)
        if len(_ORDER_CACHE) > 10_000:
            _ORDER_CACHE.clear()
        found = _ORDER_CACHE[key] = tuple(issues)
    return found
