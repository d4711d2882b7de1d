"""One portable strict JSON schema per tool input model, and the shapes each API wants it in.

The schema is the intersection of what Anthropic strict tool use and OpenAI strict function
calling accept (research/skills-format.md section 4): the root is an object; every object has
``additionalProperties: false`` and lists every property in ``required``; optional means
nullable; no ``default``, numeric or length bounds, ``pattern`` or unsupported ``format`` (they
move into the description, pydantic still enforces them on the way in); ``$ref`` is inlined; no
free-form dicts and no recursion.

A field with a non-null default becomes nullable here; ``tools.core.registry.apply_defaults`` drops the
nulls a model sends for such fields so pydantic fills in the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from tools.core.registry import Tool

PORTABLE_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
MOVED_TO_DESCRIPTION = (
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "pattern",
    "uniqueItems",
)
DROPPED = ("title", "discriminator", "examples", "readOnly", "writeOnly", "deprecated")
ANTHROPIC_MAX_STRICT_TOOLS = 20
ANTHROPIC_MAX_STRICT_UNIONS = 16


class SchemaError(ValueError):
    """A model that cannot be expressed as a portable strict schema (a dict field, recursion)."""


def _note(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _describe(node: dict[str, Any], notes: list[str]) -> None:
    if notes:
        base = node.get("description", "").rstrip()
        extra = "(" + "; ".join(notes) + ")"
        node["description"] = f"{base} {extra}".strip()


def _is_null(node: Mapping[str, Any]) -> bool:
    return node.get("type") == "null"


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if _is_null(node) or any(_is_null(n) for n in node.get("anyOf", [])):
        return node
    description = node.pop("description", None)
    wrapped: dict[str, Any] = {"anyOf": [node, {"type": "null"}]}
    if description:
        wrapped["description"] = description
    return wrapped


class _Converter:
    def __init__(self, defs: Mapping[str, Any], where: str) -> None:
        self.defs = defs
        self.where = where

    def convert(self, node: Mapping[str, Any], stack: tuple[str, ...] = ()) -> dict[str, Any]:
        node = dict(node)
        if "$ref" in node:
            name = node.pop("$ref").rsplit("/", 1)[-1]
            if name in stack:
                raise SchemaError(f"{self.where}: {name} refers to itself; recursive models are not portable")
            merged = {**self.defs[name], **node}
            return self.convert(merged, (*stack, name))
        if "allOf" in node and len(node["allOf"]) == 1:
            inner = node.pop("allOf")[0]
            return self.convert({**inner, **node}, stack)
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        notes = _strip_unportable(node)
        if "anyOf" in node:
            node["anyOf"] = [self.convert(option, stack) for option in node["anyOf"]]
        if node.get("type") == "array" and "items" in node:
            node["items"] = self.convert(node["items"], stack)
        if node.get("type") == "object" or "properties" in node:
            self._strict_object(node, stack)
        _describe(node, notes)
        return node

    def _strict_object(self, node: dict[str, Any], stack: tuple[str, ...]) -> None:
        """Every property required (optional ones nullable), no additional properties."""
        extra = node.get("additionalProperties")
        if extra not in (None, False):
            raise SchemaError(
                f"{self.where}: a free-form mapping (dict field) is not portable; use a list of key/value models"
            )
        if "properties" not in node:
            raise SchemaError(f"{self.where}: an object without declared properties is not portable")
        node["type"] = "object"
        node["properties"] = {k: self.convert(v, stack) for k, v in node["properties"].items()}
        required = set(node.get("required", []))
        for key in node["properties"]:
            if key not in required:
                node["properties"][key] = _nullable(node["properties"][key])
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False


def _strip_unportable(node: dict[str, Any]) -> list[str]:
    """Remove the keywords strict modes reject; the ones a caller should still know become description notes."""
    notes: list[str] = []
    for key in MOVED_TO_DESCRIPTION:
        if key in node:
            value = node.pop(key)
            if not (key == "default" and value is None):
                notes.append(f"{key} {_note(value)}")
    for key in DROPPED:
        node.pop(key, None)
    if "format" in node and node["format"] not in PORTABLE_FORMATS:
        node.pop("format")
    if node.get("minItems", 0) > 1:
        notes.append(f"minItems {node.pop('minItems')}")
    return notes


def portable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The strict, portable JSON schema of ``model`` (see the module docstring for the rules)."""
    raw = model.model_json_schema(mode="validation")
    defs = raw.pop("$defs", {})
    schema = _Converter(defs, model.__name__).convert(raw)
    if schema.get("type") != "object":
        raise SchemaError(f"{model.__name__}: the root of a tool schema must be an object")
    return schema


def count_unions(schema: Any) -> int:
    """How many ``anyOf`` nodes (nullable or union parameters) a schema holds, nested ones included."""
    if isinstance(schema, dict):
        own = 1 if "anyOf" in schema else 0
        return own + sum(count_unions(v) for v in schema.values())
    if isinstance(schema, list):
        return sum(count_unions(v) for v in schema)
    return 0


def tool_description(spec: Tool) -> str:
    text = spec.description
    if spec.gated:
        what = (
            "costs money or sends data to a third party" if spec.effect == "spend" else "uses this machine for minutes"
        )
        text += (
            f" This tool {what}: call it first without confirm to see what it would do and cost, and pass "
            "confirm=true only after the person said yes."
        )
    if spec.duration == "minutes":
        text += " It runs for minutes: it returns an id to poll at once, or reports progress."
    return text


def anthropic_tools(specs: Iterable[Tool]) -> list[dict[str, Any]]:
    """Anthropic Messages API tool definitions.

    Strict mode is turned on tool by tool while the request stays inside Anthropic's limits
    (20 strict tools, 16 union-typed parameters in all); the rest are sent non-strict and still
    validated by pydantic when called.
    """
    rendered: list[dict[str, Any]] = []
    unions = strict_count = 0
    for spec in specs:
        schema = portable_schema(spec.input_model)
        cost = count_unions(schema)
        strict = strict_count < ANTHROPIC_MAX_STRICT_TOOLS and unions + cost <= ANTHROPIC_MAX_STRICT_UNIONS
        if strict:
            unions += cost
            strict_count += 1
        rendered.append(
            {"name": spec.name, "description": tool_description(spec), "input_schema": schema, "strict": strict}
        )
    return rendered


def openai_chat_tool(spec: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": tool_description(spec),
            "parameters": portable_schema(spec.input_model),
            "strict": True,
        },
    }


def openai_responses_tool(spec: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": spec.name,
        "description": tool_description(spec),
        "parameters": portable_schema(spec.input_model),
        "strict": True,
    }


def mcp_tool(spec: Tool) -> dict[str, Any]:
    """The MCP ``Tool`` fields, with hints derived from what the tool declares."""
    return {
        "name": spec.name,
        "description": tool_description(spec),
        "inputSchema": portable_schema(spec.input_model),
        "annotations": {
            "title": spec.name.replace("_", " "),
            "readOnlyHint": spec.effect == "read",
            "destructiveHint": spec.destructive,
            "idempotentHint": spec.effect == "read",
            "openWorldHint": spec.effect == "spend",
        },
    }
