"""An independent checker of the portable strict-schema rules (research/skills-format.md 4.2).

It is written separately from tools/core/schemas.py on purpose: the converter must not grade itself.
"""

from __future__ import annotations

import re
from typing import Any

FORBIDDEN_KEYS = {
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
    "$ref",
    "$defs",
    "definitions",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "uniqueItems",
    "patternProperties",
    "propertyNames",
}
PORTABLE_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_DEPTH = 5


def violations(schema: dict[str, Any], where: str = "$") -> list[str]:
    found: list[str] = []
    if where == "$" and schema.get("type") != "object":
        found.append("$: root must be type object")
    _walk(schema, where, 0, found)
    return found


def _node_rules(node: dict[str, Any], where: str, found: list[str]) -> None:
    for key in FORBIDDEN_KEYS & node.keys():
        found.append(f"{where}: forbidden keyword {key!r}")
    if "format" in node and node["format"] not in PORTABLE_FORMATS:
        found.append(f"{where}: format {node['format']!r} is not portable")
    if node.get("minItems", 0) > 1:
        found.append(f"{where}: minItems above 1")
    if not any(k in node for k in ("type", "enum", "anyOf", "const")):
        found.append(f"{where}: node has no type, enum, anyOf or const")
    if "enum" in node:
        values = node["enum"]
        if not all(isinstance(v, str) for v in values):
            found.append(f"{where}: enum values must be strings")
        elif len({v.lower() for v in values}) != len(values):
            found.append(f"{where}: enum values differ only in case")


def _object_rules(node: dict[str, Any], where: str, depth: int, found: list[str]) -> None:
    if depth >= MAX_DEPTH:
        found.append(f"{where}: objects nested deeper than {MAX_DEPTH}")
    if node.get("additionalProperties") is not False:
        found.append(f"{where}: additionalProperties must be false")
    props = node.get("properties")
    if not isinstance(props, dict):
        found.append(f"{where}: object without properties")
        props = {}
    if sorted(node.get("required", [])) != sorted(props):
        found.append(f"{where}: every property must be required")
    for name, child in props.items():
        if not PROPERTY_NAME.match(name):
            found.append(f"{where}.{name}: property names must be snake_case")
        _walk(child, f"{where}.{name}", depth + 1, found)


def _walk(node: Any, where: str, depth: int, found: list[str]) -> None:
    if not isinstance(node, dict):
        found.append(f"{where}: schema node is not an object")
        return
    _node_rules(node, where, found)
    if node.get("type") == "object" or "properties" in node:
        _object_rules(node, where, depth, found)
    if node.get("type") == "array":
        if "items" not in node:
            found.append(f"{where}: array without items")
        else:
            _walk(node["items"], f"{where}[]", depth, found)
    for i, option in enumerate(node.get("anyOf", [])):
        _walk(option, f"{where}|{i}", depth, found)
