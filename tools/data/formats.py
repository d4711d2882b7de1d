"""The dataset formats: their names, detection, one normalised conversation shape, and converters.

Every supported line format (OpenAI chat and preference, Bedrock Nova and Claude 3 Haiku, Vertex
Gemini, prompt/completion, plain text, TRL preference, Alpaca, ShareGPT) is read into one shape,
:class:`Conversation`, whose messages use the roles ``system``, ``user``, ``assistant`` and
``tool``. Other tools reuse it through :func:`read_conversations`::

    from tools.data.formats import read_conversations
    for rec in read_conversations(path):          # format detected from the file
        if rec.conversation is None:              # the line is not a usable example
            print(rec.line, rec.error); continue
        for msg in rec.conversation.messages:     # role, content (text), images, tool calls...
            ...

:func:`render` writes a conversation back in any format and lists what the target cannot hold.
The rules each training target enforces (roles, alternation, limits) come from
``reference/data/formats.yaml`` through :func:`facts`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts

FORMATS: dict[str, str] = {
    "openai_chat": '{"messages": [{"role", "content"}...], "tools"?} (OpenAI, Together, Mistral, TRL conversational)',
    "openai_preference": '{"input": {"messages"}, "preferred_output", "non_preferred_output"} (OpenAI DPO)',
    "bedrock_nova": (
        '{"schemaVersion": "bedrock-conversation-2024", "system": [{"text"}], '
        '"messages": [{"role", "content": [{"text"}]}]}'
    ),
    "bedrock_haiku": '{"system": "...", "messages": [{"role", "content": "..."}]} (Bedrock Claude 3 Haiku)',
    "vertex_gemini": '{"systemInstruction": {"parts"}, "contents": [{"role": "user"|"model", "parts": [{"text"}]}]}',
    "prompt_completion": '{"prompt", "completion"} (Together instruction, TRL prompt-completion, Bedrock)',
    "text": '{"text"} (Together generic, TRL language modelling)',
    "preference": '{"prompt"?, "chosen", "rejected"} (TRL preference)',
    "alpaca": '{"instruction", "input"?, "output"}',
    "sharegpt": '{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}',
}
FormatName = Literal[
    "openai_chat",
    "openai_preference",
    "bedrock_nova",
    "bedrock_haiku",
    "vertex_gemini",
    "prompt_completion",
    "text",
    "preference",
    "alpaca",
    "sharegpt",
]


# ---------------------------------------------------------------- facts (reference/data/formats.yaml)


class TargetFact(Fact):
    id: str
    label: str
    formats: list[str]
    default_model: str | None
    roles: list[str]
    allowed_keys: list[str] | None
    final_assistant: Literal["error", "warning"]
    alternation: Literal["strict", "no_repeat", "none"]
    weight_allowed: bool
    tool_call_id_length: int | None
    reserved_strings: bool
    min_examples: int
    max_examples: int | None
    max_tokens_per_example: int | None
    over_limit: Literal["error", "warning"]
    max_images_per_example: int | None
    max_file_bytes: int | None


class RecommendedFact(Fact):
    target: str
    min_examples: int


class DefaultTargetFact(Fact):
    format: str
    target: str


class ModelFact(Fact):
    prefix: str
    encoding: str | None
    max_tokens_per_example: int
    target: str | None = None  # the training target the model implies (validate --model)


class FamilyFact(Fact):
    """An open-weight model family whose tokenizer a tiktoken encoding approximates (when its own is not on disk)."""

    match: list[str]  # lower-case substrings of the model id
    encoding: str
    label: str


class OverheadFact(Fact):
    tokens_per_message: int
    tokens_per_name: int
    reply_priming: int


class ReservedFact(Fact):
    strings: list[str]


class RefusalFact(Fact):
    phrases: list[str]
    max_share: float


class QualityFact(Fact):
    near_dup_threshold: float
    shingle_chars: int
    minhash_bands: int
    minhash_rows: int
    max_bucket: int
    min_assistant_tokens: int
    outlier_median_multiple: float
    min_assistant_share: float
    max_line_bytes: int


class CookbookFact(Fact):
    max_tokens_per_example: int
    target_epochs: int
    min_target_examples: int
    max_target_examples: int
    min_default_epochs: int
    max_default_epochs: int


class FormatFacts(BaseModel):
    targets: list[TargetFact]
    recommended_examples: list[RecommendedFact]
    default_targets: list[DefaultTargetFact]
    models: list[ModelFact]
    families: list[FamilyFact]
    chat_overhead: OverheadFact
    nova_reserved: ReservedFact
    refusals: RefusalFact
    quality: QualityFact
    cookbook: CookbookFact

    def target(self, target_id: str) -> TargetFact:
        for row in self.targets:
            if row.id == target_id:
                return row
        known = ", ".join(r.id for r in self.targets)
        raise ToolError("unknown_target", f"unknown training target {target_id!r}", f"choose one of: {known}")

    def recommended(self, target_id: str) -> RecommendedFact | None:
        return next((r for r in self.recommended_examples if r.target == target_id), None)

    def default_target(self, fmt: str) -> TargetFact:
        for row in self.default_targets:
            if row.format == fmt:
                return self.target(row.target)
        return self.target("trl")

    def model(self, model_id: str | None) -> ModelFact | None:
        """The row whose prefix is the longest match of ``model_id`` (``ft:`` ids normalised)."""
        if not model_id:
            return None
        from tools.data.tokens import normalise_model

        base = normalise_model(model_id)
        best = None
        for row in self.models:
            if base.startswith(row.prefix) and (best is None or len(row.prefix) > len(best.prefix)):
                best = row
        return best

    def family(self, model_id: str) -> FamilyFact | None:
        """The open-weight family ``model_id`` belongs to, by the longest matching substring."""
        name = model_id.lower()
        best: tuple[int, FamilyFact] | None = None
        for row in self.families:
            for needle in row.match:
                if needle in name and (best is None or len(needle) > best[0]):
                    best = (len(needle), row)
        return best[1] if best else None


def facts() -> FormatFacts:
    return load_facts("formats", FormatFacts)


# ---------------------------------------------------------------- the normalised shape


@dataclass(slots=True)
class ToolCall:
    id: str | None
    name: str
    arguments: str  # JSON text, as OpenAI wants it


@dataclass(slots=True)
class Message:
    role: str  # system | user | assistant | tool
    content: str = ""
    images: int = 0
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    weight: int | None = None

    def text_with_calls(self) -> str:
        """The content, then the tool calls as JSON (what a chat template without tool support renders)."""
        content = self.content or ""
        if self.tool_calls:
            calls = [{"name": c.name, "arguments": c.arguments} for c in self.tool_calls]
            content = (content + "\n" if content else "") + json.dumps(calls, ensure_ascii=False)
        return content


@dataclass(slots=True)
class Conversation:
    """One example. ``messages`` is the whole conversation (for preference data: prompt + chosen)."""

    messages: list[Message] = field(default_factory=list)
    tools: list[Any] | None = None
    parallel_tool_calls: bool | None = None
    rejected: list[Message] | None = None
    text: str | None = None  # plain-text (language-modelling) examples have no messages

    @property
    def system(self) -> str | None:
        parts = [m.content for m in self.messages if m.role == "system"]
        return "\n".join(parts) if parts else None

    @property
    def is_plain_text(self) -> bool:
        """A language-modelling example: a text and no conversation."""
        return self.text is not None and not self.messages

    def template_messages(self) -> list[dict[str, Any]]:
        """The conversation as chat-template messages: role, content (tool calls as JSON text after it), weight."""
        return [{"role": m.role, "content": m.text_with_calls(), "weight": m.weight} for m in self.messages]

    def strings(self) -> Iterator[str]:
        """Every text a model reads or writes, in order (for token counting, PII scanning)."""
        if self.text is not None:
            yield self.text
        for msg in self.messages:
            yield msg.content
        for msg in self.rejected or ():
            yield msg.content


# ---------------------------------------------------------------- detection


def detect(obj: Any) -> str | None:
    """The format of one parsed line, or None when no supported format matches."""
    if not isinstance(obj, dict):
        return None
    if "preferred_output" in obj or "non_preferred_output" in obj:
        return "openai_preference"
    if "contents" in obj or "systemInstruction" in obj:
        return "vertex_gemini"
    if "messages" in obj:
        if "schemaVersion" in obj or isinstance(obj.get("system"), list):
            return "bedrock_nova"
        msgs = obj.get("messages")
        if isinstance(msgs, list):
            for m in msgs[:2]:
                content = m.get("content") if isinstance(m, dict) else None
                if isinstance(content, list) and content and isinstance(content[0], dict) and "type" not in content[0]:
                    return "bedrock_nova"
        if isinstance(obj.get("system"), str):
            return "bedrock_haiku"
        return "openai_chat"
    if "conversations" in obj:
        return "sharegpt"
    if "chosen" in obj and "rejected" in obj:
        return "preference"
    if "instruction" in obj and ("output" in obj or "response" in obj):
        return "alpaca"
    if "prompt" in obj and "completion" in obj:
        return "prompt_completion"
    if "text" in obj:
        return "text"
    return None


# ---------------------------------------------------------------- reading into the normalised shape

_ROLE_ALIASES = {
    "model": "assistant",
    "human": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "developer": "system",
    "function": "tool",
    "observation": "tool",
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
}


def _text_of(content: Any) -> tuple[str, int]:
    """(text, image count) of a content value: a string, OpenAI parts, Nova blocks or Gemini parts."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if isinstance(content, list):
        texts, images = [], 0
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif any(k in part for k in ("image_url", "image", "fileData", "inlineData", "video", "input_audio")):
                    images += 1
                elif part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        return "\n".join(texts), images
    return str(content), 0


def _tool_calls(raw: Any) -> list[ToolCall] | None:
    if not isinstance(raw, list) or not raw:
        return None
    calls = []
    for call in raw:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        args = fn.get("arguments", "")
        calls.append(
            ToolCall(
                call.get("id"),
                str(fn.get("name", "")),
                args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
            )
        )
    return calls or None


def _openai_message(m: Any) -> Message:
    if not isinstance(m, dict):
        return Message(role="?")
    content, images = _text_of(m.get("content"))
    role = _ROLE_ALIASES.get(str(m.get("role")), str(m.get("role")))
    weight = m.get("weight") if isinstance(m.get("weight"), int) else None
    return Message(
        role,
        content,
        images,
        _tool_calls(m.get("tool_calls")),
        m.get("tool_call_id") if isinstance(m.get("tool_call_id"), str) else None,
        m.get("name") if isinstance(m.get("name"), str) else None,
        weight,
    )


def _messages_or_string(value: Any, role: str) -> list[Message]:
    if isinstance(value, list):
        return [_openai_message(m) for m in value]
    if isinstance(value, dict):
        return [_openai_message(value)]
    return [Message(role, "" if value is None else str(value))]


def _read_openai_chat(obj: dict[str, Any]) -> Conversation:
    msgs = obj.get("messages")
    return Conversation(
        [_openai_message(m) for m in msgs] if isinstance(msgs, list) else [],
        obj.get("tools") if isinstance(obj.get("tools"), list) else None,
        obj.get("parallel_tool_calls") if isinstance(obj.get("parallel_tool_calls"), bool) else None,
    )


def _read_openai_preference(obj: dict[str, Any]) -> Conversation:
    inp = obj.get("input") if isinstance(obj.get("input"), dict) else {}
    base = _read_openai_chat(inp)
    base.messages += _messages_or_string(obj.get("preferred_output"), "assistant")
    base.rejected = _messages_or_string(obj.get("non_preferred_output"), "assistant")
    return base


def _read_bedrock(obj: dict[str, Any]) -> Conversation:
    out: list[Message] = []
    system = obj.get("system")
    if isinstance(system, str) and system:
        out.append(Message("system", system))
    elif isinstance(system, list) and system:
        out.append(Message("system", _text_of(system)[0]))
    for m in obj.get("messages") or []:
        if isinstance(m, dict):
            text, images = _text_of(m.get("content"))
            out.append(Message(_ROLE_ALIASES.get(str(m.get("role")), str(m.get("role"))), text, images))
        else:
            out.append(Message("?"))
    return Conversation(out)


def _read_vertex_gemini(obj: dict[str, Any]) -> Conversation:
    out: list[Message] = []
    si = obj.get("systemInstruction")
    if isinstance(si, dict):
        out.append(Message("system", _text_of(si.get("parts"))[0]))
    for m in obj.get("contents") or []:
        if isinstance(m, dict):
            text, images = _text_of(m.get("parts"))
            out.append(Message(_ROLE_ALIASES.get(str(m.get("role")), str(m.get("role"))), text, images))
        else:
            out.append(Message("?"))
    return Conversation(out, obj.get("tools") if isinstance(obj.get("tools"), list) else None)


def _read_prompt_completion(obj: dict[str, Any]) -> Conversation:
    return Conversation(
        _messages_or_string(obj.get("prompt"), "user") + _messages_or_string(obj.get("completion"), "assistant")
    )


def _read_preference(obj: dict[str, Any]) -> Conversation:
    prompt = _messages_or_string(obj["prompt"], "user") if "prompt" in obj else []
    return Conversation(
        prompt + _messages_or_string(obj.get("chosen"), "assistant"),
        rejected=_messages_or_string(obj.get("rejected"), "assistant"),
    )


def _read_alpaca(obj: dict[str, Any]) -> Conversation:
    out: list[Message] = []
    if isinstance(obj.get("system"), str) and obj["system"]:
        out.append(Message("system", obj["system"]))
    prompt = str(obj.get("instruction") or "")
    if obj.get("input"):
        prompt = f"{prompt}\n\n{obj['input']}"
    out.append(Message("user", prompt))
    out.append(Message("assistant", str(obj.get("output", obj.get("response", "")) or "")))
    return Conversation(out)


def _read_sharegpt(obj: dict[str, Any]) -> Conversation:
    out: list[Message] = []
    for m in obj.get("conversations") or []:
        if isinstance(m, dict):
            role = str(m.get("from", m.get("role", "")))
            out.append(Message(_ROLE_ALIASES.get(role, role), _text_of(m.get("value", m.get("content")))[0]))
    return Conversation(out)


def _read_text(obj: dict[str, Any]) -> Conversation:
    text = obj.get("text")
    return Conversation(text=text if isinstance(text, str) else "")


_READERS = {
    "openai_chat": _read_openai_chat,
    "openai_preference": _read_openai_preference,
    "bedrock_nova": _read_bedrock,
    "bedrock_haiku": _read_bedrock,
    "vertex_gemini": _read_vertex_gemini,
    "prompt_completion": _read_prompt_completion,
    "preference": _read_preference,
    "alpaca": _read_alpaca,
    "sharegpt": _read_sharegpt,
    "text": _read_text,
}


def normalise(obj: dict[str, Any], fmt: str) -> Conversation:
    """Read one parsed line of format ``fmt`` into a :class:`Conversation` (best effort, never raises)."""
    reader = _READERS.get(fmt)
    if reader is None:
        raise ToolError("unknown_format", f"unknown format {fmt!r}", "formats: " + ", ".join(FORMATS))
    return reader(obj)


@dataclass(slots=True)
class Record:
    """One line of a dataset file: its number, its format and its conversation (None if unusable)."""

    line: int
    format: str | None
    conversation: Conversation | None
    raw: Any = None
    error: str | None = None


def detect_file(path: Path, sample: int = 200) -> str | None:
    """The most common format among the first ``sample`` parseable lines of ``path``."""
    from tools.data.jsonl import parse, read_lines

    seen: Counter[str] = Counter()
    for line in read_lines(path):
        if line.text is None or line.blank:
            continue
        obj, err = parse(line)
        if err is None:
            fmt = detect(obj)
            if fmt:
                seen[fmt] += 1
        if sum(seen.values()) >= sample or line.number > sample * 5:
            break
    return seen.most_common(1)[0][0] if seen else None


def read_conversations(path: Path, format: str | None = None) -> Iterator[Record]:
    """Yield a :class:`Record` per non-blank line of a JSONL file, with 1-based line numbers.

    ``format`` forces a format; without it each file's format is detected from its head. Lines
    that are not JSON objects of that format come back with ``conversation=None`` and ``error``.
    """
    from tools.data.jsonl import parse, read_lines

    fmt = format or detect_file(path)
    for line in read_lines(path):
        if line.text is None:
            yield Record(line.number, fmt, None, error=line.detail)
            continue
        if line.blank:
            continue
        obj, err = parse(line)
        if err is not None:
            yield Record(line.number, fmt, None, error=err)
        elif not isinstance(obj, dict):
            yield Record(line.number, fmt, None, obj, f"a line must be a JSON object, not {type(obj).__name__}")
        elif fmt is None:
            yield Record(line.number, None, None, obj, "no supported format matches this line")
        else:
            yield Record(line.number, fmt, normalise(obj, fmt), obj)


# ---------------------------------------------------------------- writing (conversion)


def _openai_msg(m: Message, dropped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.name:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
        if not m.content:
            out["content"] = None
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.weight is not None and m.role == "assistant":
        out["weight"] = m.weight
    if m.images:
        dropped.append("images")
    return out


def _plain_turns(conv: Conversation, fmt: str, dropped: list[str]) -> tuple[str | None, list[Message]]:
    """System text and the non-system turns, noting what a text-only user/assistant format loses."""
    system = conv.system
    turns = [m for m in conv.messages if m.role != "system"]
    if any(m.tool_calls or m.role == "tool" for m in turns):
        dropped.append("tool calls and tool results")
        turns = [m for m in turns if m.role != "tool" and (m.content or not m.tool_calls)]
    if conv.tools:
        dropped.append("tool definitions")
    if any(m.weight is not None for m in turns):
        dropped.append("per-message weight")
    if any(m.images for m in conv.messages):
        dropped.append("images")
    if conv.rejected:
        dropped.append("rejected (non-preferred) answers")
    return system, turns


def _write_openai_chat(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    if conv.rejected:
        dropped.append("rejected (non-preferred) answers")
    obj: dict[str, Any] = {"messages": [_openai_msg(m, dropped) for m in conv.messages]}
    if conv.tools:
        obj["tools"] = conv.tools
    if conv.parallel_tool_calls is not None:
        obj["parallel_tool_calls"] = conv.parallel_tool_calls
    return obj


def _last_answer(msgs: list[Message]) -> tuple[list[Message], list[Message]]:
    """(prompt messages, [the final assistant message]) or (all messages, []) when the last is not an answer."""
    return (msgs[:-1], msgs[-1:]) if msgs and msgs[-1].role == "assistant" else (msgs, [])


def _write_openai_preference(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    prompt, chosen = _last_answer(conv.messages)
    inp: dict[str, Any] = {"messages": [_openai_msg(m, dropped) for m in prompt]}
    if conv.tools:
        inp["tools"] = conv.tools
    return {
        "input": inp,
        "preferred_output": [_openai_msg(m, dropped) for m in chosen],
        "non_preferred_output": [_openai_msg(m, dropped) for m in (conv.rejected or [])],
    }


def _write_bedrock_nova(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    system, turns = _plain_turns(conv, "bedrock_nova", dropped)
    obj: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024"}
    if system:
        obj["system"] = [{"text": system}]
    obj["messages"] = [{"role": m.role, "content": [{"text": m.content}]} for m in turns]
    return obj


def _write_bedrock_haiku(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    system, turns = _plain_turns(conv, "bedrock_haiku", dropped)
    obj: dict[str, Any] = {"system": system} if system else {}
    obj["messages"] = [{"role": m.role, "content": m.content} for m in turns]
    return obj


def _write_vertex_gemini(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    system, turns = _plain_turns(conv, "vertex_gemini", dropped)
    obj: dict[str, Any] = {"systemInstruction": {"role": "system", "parts": [{"text": system}]}} if system else {}
    obj["contents"] = [
        {"role": "model" if m.role == "assistant" else m.role, "parts": [{"text": m.content}]} for m in turns
    ]
    return obj


def _write_single_turn(conv: Conversation, dropped: list[str], fmt: str) -> dict[str, Any]:
    system, turns = _plain_turns(conv, fmt, dropped)
    last = turns[-1].content if turns and turns[-1].role == "assistant" else ""
    context = turns[:-1] if turns and turns[-1].role == "assistant" else turns
    if len(context) > 1:
        dropped.append("earlier turns were flattened into the prompt")
    prompt = "\n\n".join(m.content for m in context)
    if fmt == "alpaca":
        obj: dict[str, Any] = {"instruction": prompt, "input": "", "output": last}
        if system:
            obj["system"] = system
        return obj
    if system:
        prompt = f"{system}\n\n{prompt}"
        dropped.append("system prompt was prefixed to the prompt")
    return {"prompt": prompt, "completion": last}


def _write_preference(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    prompt_msgs, chosen = _last_answer(conv.messages)
    return {
        "prompt": [_openai_msg(m, dropped) for m in prompt_msgs],
        "chosen": [_openai_msg(m, dropped) for m in chosen],
        "rejected": [_openai_msg(m, dropped) for m in (conv.rejected or [])],
    }


def _write_sharegpt(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    _, turns = _plain_turns(conv, "sharegpt", dropped)
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    system = conv.system
    head = [{"from": "system", "value": system}] if system else []
    return {"conversations": head + [{"from": names.get(m.role, m.role), "value": m.content} for m in turns]}


def _write_text(conv: Conversation, dropped: list[str]) -> dict[str, Any]:
    if conv.text is not None:
        return {"text": conv.text}
    _, turns = _plain_turns(conv, "text", dropped)
    dropped.append("roles (turns were joined into plain text)")
    system = conv.system
    return {"text": "\n\n".join(([system] if system else []) + [m.content for m in turns])}


_WRITERS = {
    "openai_chat": _write_openai_chat,
    "openai_preference": _write_openai_preference,
    "bedrock_nova": _write_bedrock_nova,
    "bedrock_haiku": _write_bedrock_haiku,
    "vertex_gemini": _write_vertex_gemini,
    "prompt_completion": lambda conv, dropped: _write_single_turn(conv, dropped, "prompt_completion"),
    "alpaca": lambda conv, dropped: _write_single_turn(conv, dropped, "alpaca"),
    "preference": _write_preference,
    "sharegpt": _write_sharegpt,
    "text": _write_text,
}


def render(conv: Conversation, fmt: str) -> tuple[dict[str, Any], list[str]]:
    """``conv`` as one line of format ``fmt``, and what that format could not hold (deduplicated)."""
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise ToolError("unknown_format", f"unknown output format {fmt!r}", "formats: " + ", ".join(FORMATS))
    dropped: list[str] = []
    if conv.text is not None and fmt != "text":
        conv = Conversation([Message("assistant", conv.text)])
        dropped.append("plain text became a single assistant turn")
    return writer(conv, dropped), sorted(set(dropped))
