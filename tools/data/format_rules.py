"""Per-line rules of each dataset format and training target.

:func:`check_line` takes one parsed line, its format and the target's :class:`~tools.data.formats.TargetFact`
and returns ``(code, severity, message)`` triples. Codes are stable (documented in
reference/data-prep.md by the knowledge owner); messages never include the line's text, so no
PII leaks into reports. It never raises on any JSON value.
"""

from __future__ import annotations

import json
from typing import Any

from tools.core.scrub import scrub
from tools.data.formats import Conversation, TargetFact

Issue = tuple[str, str, str]  # (code, severity, message)

_KNOWN_MESSAGE_KEYS = {
    "openai_chat": {
        "role",
        "content",
        "name",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "weight",
        "refusal",
        "reasoning_content",
        "thinking",
    },
    "bedrock_nova": {"role", "content", "reasoningContent"},
    "bedrock_haiku": {"role", "content"},
    "vertex_gemini": {"role", "parts"},
    "sharegpt": {"from", "value", "role", "content", "weight"},
}
_FORMAT_KEYS = {
    "openai_chat": {"messages", "tools", "parallel_tool_calls", "functions"},
    "openai_preference": {"input", "preferred_output", "non_preferred_output"},
    "bedrock_nova": {"schemaVersion", "system", "messages"},
    "bedrock_haiku": {"system", "messages"},
    "vertex_gemini": {"systemInstruction", "contents", "tools"},
    "prompt_completion": {"prompt", "completion"},
    "text": {"text"},
    "preference": {"prompt", "chosen", "rejected"},
    "alpaca": {"instruction", "input", "output", "response", "system"},
    "sharegpt": {"conversations"},
}
_MESSAGE_LIST = {
    "openai_chat": "messages",
    "bedrock_nova": "messages",
    "bedrock_haiku": "messages",
    "vertex_gemini": "contents",
    "sharegpt": "conversations",
}


def _short(names: Any, limit: int = 5) -> str:
    """Key names for a message, key-shaped secrets removed before the cut (a key name can be a pasted token)."""
    names = sorted(scrub(str(n))[:40] for n in names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_keys(obj: dict[str, Any], fmt: str, target: TargetFact, out: list[Issue]) -> None:
    known = _FORMAT_KEYS.get(fmt, set())
    unknown = [k for k in obj if k not in known]
    if unknown:
        strict = target.allowed_keys is not None
        out.append(
            (
                "unknown_key",
                "error" if strict else "warning",
                f"unknown top-level key(s) for {fmt}: {_short(unknown)}"
                + ("; the target rejects extra keys" if strict else ""),
            )
        )


def _check_content(idx: int, role: str, m: dict[str, Any], fmt: str, out: list[Issue]) -> None:
    key = "parts" if fmt == "vertex_gemini" else "value" if fmt == "sharegpt" and "value" in m else "content"
    content = m.get(key)
    where = f"message {idx + 1} ({role})"
    if fmt in ("bedrock_nova", "vertex_gemini"):
        if not isinstance(content, list) or not content:
            out.append(("non_string_content", "error", f"{where}: `{key}` must be a non-empty list of blocks"))
            return
        for block in content:
            if not isinstance(block, dict):
                out.append(("non_string_content", "error", f"{where}: every `{key}` block must be an object"))
                return
            if "text" in block and (not isinstance(block["text"], str) or not block["text"].strip()):
                out.append(("empty_content", "error", f"{where}: empty text block"))
                return
        return
    if content is None:
        if m.get("tool_calls") or m.get("function_call"):
            return
        out.append(("missing_content", "error", f"{where}: no `{key}`"))
    elif isinstance(content, str):
        if not content.strip() and not m.get("tool_calls"):
            out.append(("empty_content", "error" if role == "assistant" else "warning", f"{where}: empty content"))
    elif isinstance(content, list) and fmt == "openai_chat":
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "image_url", "input_audio", "file"):
                out.append(
                    ("bad_content_part", "error", f"{where}: content parts must be objects with type text or image_url")
                )
                return
            if part.get("type") == "image_url" and role == "assistant":
                out.append(("image_in_assistant", "error", f"{where}: images are only allowed in user messages"))
                return
    else:
        out.append(("non_string_content", "error", f"{where}: content must be a string, not {type(content).__name__}"))


def _check_tool_calls(
    idx: int, m: dict[str, Any], target: TargetFact, open_calls: dict[str, int], out: list[Issue]
) -> None:
    calls = m.get("tool_calls")
    where = f"message {idx + 1} (assistant)"
    if not isinstance(calls, list):
        out.append(("bad_tool_call", "error", f"{where}: `tool_calls` must be a list"))
        return
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            out.append(("bad_tool_call", "error", f"{where}: each tool call needs a `function` object"))
            continue
        fn = call["function"]
        if not isinstance(fn.get("name"), str) or not fn.get("name"):
            out.append(("bad_tool_call", "error", f"{where}: a tool call has no function name"))
        args = fn.get("arguments")
        if not isinstance(args, str):
            out.append(
                (
                    "tool_arguments_not_string",
                    "error",
                    f"{where}: `arguments` must be a JSON-encoded string, not {type(args).__name__}",
                )
            )
        else:
            try:
                json.loads(args)
            except (json.JSONDecodeError, RecursionError):
                out.append(("tool_arguments_invalid_json", "error", f"{where}: `arguments` is not valid JSON"))
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            out.append(("tool_call_missing_id", "error", f"{where}: a tool call has no `id`"))
            continue
        if target.tool_call_id_length and len(call_id) != target.tool_call_id_length:
            out.append(
                (
                    "tool_call_id_length",
                    "error",
                    f"{where}: tool call id must be exactly {target.tool_call_id_length} characters for {target.id}",
                )
            )
        open_calls[call_id] = idx


def _unknown_role(idx: int, role: str, target: TargetFact) -> Issue:
    return (
        "unknown_role",
        "error",
        f"message {idx + 1}: role {role[:30]!r} is not one of {', '.join(target.roles)} for {target.id}",
    )


def _check_weight(idx: int, role: str, w: Any, target: TargetFact, out: list[Issue]) -> None:
    if not target.weight_allowed:
        out.append(("weight_not_allowed", "error", f"message {idx + 1}: {target.id} does not accept `weight`"))
    elif isinstance(w, bool) or w not in (0, 1):
        out.append(("invalid_weight", "error", f"message {idx + 1}: `weight` must be 0 or 1"))
    elif role != "assistant":
        out.append(("invalid_weight", "error", f"message {idx + 1}: `weight` is only allowed on assistant messages"))


def _check_tool_result(idx: int, m: dict[str, Any], open_calls: dict[str, int], out: list[Issue]) -> None:
    """An OpenAI tool message must answer an earlier, still open tool call; answering closes it."""
    tcid = m.get("tool_call_id")
    if not isinstance(tcid, str) or not tcid:
        out.append(("tool_result_missing_id", "error", f"message {idx + 1}: tool message has no `tool_call_id`"))
    elif tcid not in open_calls:
        out.append(
            (
                "tool_result_mismatch",
                "error",
                f"message {idx + 1}: tool result {tcid[:30]!r} answers no earlier tool call",
            )
        )
    else:
        del open_calls[tcid]


def _check_each_message(msgs: list[Any], fmt: str, target: TargetFact, out: list[Issue]) -> dict[str, int]:
    """The rules of every message on its own; returns the tool calls no tool message answered (id -> index).

    One call per line: what every message needs stays inline, the rare cases (weights, tool calls and
    results) are functions of their own."""
    allowed_roles = set(target.roles)
    known_keys = _KNOWN_MESSAGE_KEYS.get(fmt, set())
    open_calls: dict[str, int] = {}
    role_key = "from" if fmt == "sharegpt" else "role"
    for idx, m in enumerate(msgs):
        if not isinstance(m, dict):
            out.append(("message_not_object", "error", f"message {idx + 1} is {type(m).__name__}, not an object"))
            continue
        role = m.get(role_key, m.get("role"))
        if not isinstance(role, str) or not role:
            out.append(("missing_role", "error", f"message {idx + 1} has no `{role_key}`"))
            role = "?"
        elif fmt != "sharegpt" and role not in allowed_roles:
            out.append(_unknown_role(idx, role, target))
        extra = [k for k in m if k not in known_keys]
        if extra:
            severity = "error" if target.allowed_keys is not None else "warning"
            out.append(("unknown_message_key", severity, f"message {idx + 1}: unknown key(s) {_short(extra)}"))
        _check_content(idx, role, m, fmt, out)
        if "weight" in m:
            _check_weight(idx, role, m["weight"], target, out)
        if "tool_calls" in m and m["tool_calls"] is not None:
            if role != "assistant":
                out.append(("bad_tool_call", "error", f"message {idx + 1}: only assistant messages carry tool_calls"))
            else:
                _check_tool_calls(idx, m, target, open_calls, out)
        if role == "tool" and fmt == "openai_chat":
            _check_tool_result(idx, m, open_calls, out)
    return open_calls


def _check_reserved(conv: Conversation, reserved: list[str], out: list[Issue]) -> None:
    for i, msg in enumerate(conv.messages):
        if msg.role in ("user", "system"):
            hit = next((s for s in reserved if s in msg.content), None)
            if hit:
                out.append(
                    (
                        "reserved_string",
                        "error",
                        f"{msg.role} text (message {i + 1}) contains the reserved string {hit!r}",
                    )
                )


def _check_images(conv: Conversation, target: TargetFact, out: list[Issue]) -> None:
    images = sum(m.images for m in conv.messages)
    if images > target.max_images_per_example:
        out.append(
            (
                "too_many_images",
                "error",
                f"{images} images; {target.id} allows {target.max_images_per_example} per example",
            )
        )
    if any(m.images for m in conv.messages if m.role == "assistant"):
        out.append(("image_in_assistant", "error", "images are only allowed in user messages"))


def _check_messages(
    msgs: Any, fmt: str, target: TargetFact, reserved: list[str], out: list[Issue], conv: Conversation
) -> None:
    if not isinstance(msgs, list) or not msgs:
        out.append(("missing_messages", "error", f"`{_MESSAGE_LIST.get(fmt, 'messages')}` must be a non-empty list"))
        return
    open_calls = _check_each_message(msgs, fmt, target, out)
    if open_calls:
        out.append(
            (
                "tool_call_unanswered",
                "warning",
                f"{len(open_calls)} tool call(s) have no tool result (message {min(open_calls.values()) + 1})",
            )
        )
    check_order(conv, fmt, target, out)
    if target.reserved_strings and reserved:
        _check_reserved(conv, reserved, out)
    if target.max_images_per_example is not None:
        _check_images(conv, target, out)


def check_order(conv: Conversation, fmt: str, target: TargetFact, out: list[Issue]) -> None:
    turns = [m for m in conv.messages if m.role != "system"]
    roles = [m.role for m in turns]
    if any(m.role == "system" for m in conv.messages[1:]) and fmt == "openai_chat" and target.alternation != "none":
        out.append(("role_order", "error", "a system message must come first"))
    if not roles:
        out.append(("no_assistant", "error", "no user or assistant turn"))
        return
    if "assistant" not in roles:
        out.append(
            (
                "missing_final_assistant",
                "error",
                f"the conversation ends with a {roles[-1]} turn and has no assistant turn to train on",
            )
        )
    elif roles[-1] != "assistant":
        out.append(
            (
                "missing_final_assistant",
                target.final_assistant,
                f"the conversation ends with a {roles[-1]} turn, not an assistant turn"
                + (
                    " (nothing after the last assistant turn is trained)" if target.final_assistant == "warning" else ""
                ),
            )
        )
    if target.alternation == "strict":
        if len(roles) < 2:
            out.append(("too_few_messages", "error", "at least one user and one assistant turn are needed"))
        if roles[0] != "user":
            out.append(("role_order", "error", f"the first turn must be user, not {roles[0]}"))
        for i in range(1, len(roles)):
            if roles[i] == roles[i - 1]:
                out.append(
                    (
                        "role_order",
                        "error",
                        f"turns {i} and {i + 1} are both {roles[i]}; {target.id} needs user and assistant to alternate",
                    )
                )
                break
    elif target.alternation == "no_repeat":
        for i in range(1, len(roles)):
            if roles[i] == roles[i - 1] and roles[i] != "tool":
                out.append(("role_order", "error", f"turns {i} and {i + 1} are both {roles[i]}"))
                break


def _string_field(
    obj: dict[str, Any], name: str, out: list[Issue], *, required: bool = True, role: str = "user"
) -> None:
    value = obj.get(name)
    if value is None:
        if required:
            out.append(("missing_field", "error", f"missing `{name}`"))
    elif isinstance(value, str):
        if not value.strip():
            out.append(("empty_content", "error" if role == "assistant" else "warning", f"`{name}` is empty"))
    elif not isinstance(value, list):
        out.append(("non_string_content", "error", f"`{name}` must be a string or a list of messages"))


def _check_bedrock_system(obj: dict[str, Any], fmt: str, out: list[Issue]) -> None:
    if fmt == "bedrock_haiku" and not isinstance(obj["system"], str):
        out.append(("non_string_content", "error", "`system` must be a string"))
    if fmt == "bedrock_nova" and not isinstance(obj["system"], list):
        out.append(("non_string_content", "error", "`system` must be a list of {text} blocks"))


def _check_openai_preference(
    obj: dict[str, Any], target: TargetFact, conv: Conversation, reserved: list[str], out: list[Issue]
) -> None:
    """The input conversation by the chat rules (it needs no final assistant turn), then the two outputs."""
    inp = obj.get("input")
    if not isinstance(inp, dict):
        out.append(("missing_field", "error", "`input` must be an object with `messages`"))
    else:
        sub: list[Issue] = []
        prompt = Conversation(conv.messages[:-1] if conv.messages else [])
        _check_messages(inp.get("messages"), "openai_chat", target, reserved, sub, prompt)
        out += [i for i in sub if i[0] not in ("missing_final_assistant", "no_assistant")]
    for name in ("preferred_output", "non_preferred_output"):
        value = obj.get(name)
        if (
            not isinstance(value, list)
            or len(value) != 1
            or not isinstance(value[0], dict)
            or value[0].get("role") != "assistant"
        ):
            out.append(
                ("bad_preference_output", "error", f"`{name}` must be a list with exactly one assistant message")
            )
        elif not isinstance(value[0].get("content"), str) or not value[0]["content"].strip():
            out.append(("empty_content", "error", f"`{name}` has empty content"))


def _check_string_format(obj: dict[str, Any], fmt: str, out: list[Issue]) -> None:
    """The formats whose fields are strings: prompt_completion, preference, alpaca and text (others pass)."""
    if fmt == "prompt_completion":
        _string_field(obj, "prompt", out)
        _string_field(obj, "completion", out, role="assistant")
    elif fmt == "preference":
        _string_field(obj, "prompt", out, required=False)
        _string_field(obj, "chosen", out, role="assistant")
        _string_field(obj, "rejected", out, role="assistant")
    elif fmt == "alpaca":
        _string_field(obj, "instruction", out)
        _string_field(obj, "output" if "output" in obj else "response", out, role="assistant")
    elif fmt == "text":
        _string_field(obj, "text", out, role="assistant")


def check_line(obj: Any, fmt: str, target: TargetFact, conv: Conversation | None, reserved: list[str]) -> list[Issue]:
    """Every rule of ``fmt`` and ``target`` that line ``obj`` breaks (empty when it is fine)."""
    out: list[Issue] = []
    if not isinstance(obj, dict):
        return [("wrong_top_level_type", "error", f"a line must be a JSON object, not {type(obj).__name__}")]
    if fmt not in target.formats:
        out.append(("format_not_accepted", "error", f"{target.id} does not accept the {fmt} format"))
    _check_keys(obj, fmt, target, out)
    if conv is None:
        return out
    if fmt in _MESSAGE_LIST:
        _check_messages(obj.get(_MESSAGE_LIST[fmt]), fmt, target, reserved, out, conv)
        if "system" in obj and fmt in ("bedrock_haiku", "bedrock_nova"):
            _check_bedrock_system(obj, fmt, out)
    elif fmt == "openai_preference":
        _check_openai_preference(obj, target, conv, reserved, out)
    else:
        _check_string_format(obj, fmt, out)
    return out
