"""The PII scan's view of a dataset line: every leaf value and every key of the raw line, within limits.

A fine-tuning reader may take more than the chat messages (a second ``messages`` key, a ``metadata`` field,
a message ``name``, tool arguments), so the scan does not look only at the normalised conversation: it walks
the parsed JSON and takes every string, every key and every number long enough to be a phone or card number.
The conversation (:func:`tools.data.formats.normalise`) only names the role of each text.

A line that cannot be parsed (invalid JSON, a key given twice, nesting deeper than the limit, an integer
with too many digits) is still scanned, as raw text. A line over the size limit is not read at all (memory
stays bounded) and is reported. Each case carries a message that names the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tools.pii.recognizers import Limits

PROTECTED_KEYS = frozenset({"role", "from", "type", "schemaVersion"})
"""Keys whose values the redacted copy keeps (the format depends on them); they are still scanned."""

MIN_NUMBER_DIGITS = 6
"""Numbers with fewer digits cannot be any entity we detect (the shortest, a phone number, needs seven)."""

LineKind = Literal["ok", "blank", "unparsed", "unread"]


@dataclass(slots=True)
class Segment:
    role: str
    where: str
    text: str


@dataclass(slots=True)
class ScanLine:
    number: int
    text: str | None
    kind: LineKind
    obj: Any = None
    segments: list[Segment] = field(default_factory=list)
    problem: str | None = None
    example: bool = False


class _TooDeep(Exception):
    pass


class _TooLong(Exception):
    def __init__(self, digits: int) -> None:
        self.digits = digits


def _digits(value: int) -> int:
    return len(str(abs(value))) if value.bit_length() < 4000 else int(abs(value).bit_length() * 0.30103) + 1


class _Walker:
    """Collects the segments of one parsed line, with the role and JSON path of each."""

    def __init__(self, roles: dict[str, str], limits: Limits) -> None:
        self.roles = roles
        self.limits = limits
        self.out: list[Segment] = []

    def walk(self, node: Any, role: str, path: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise _TooDeep
        if isinstance(node, str):
            if node.strip():
                self.out.append(Segment(self.roles.get(node, role), path or "(value)", node))
        elif isinstance(node, bool) or node is None:
            return
        elif isinstance(node, int):
            digits = _digits(node)
            if digits > self.limits.max_int_digits:
                raise _TooLong(digits)
            if digits >= MIN_NUMBER_DIGITS:
                self.out.append(Segment(role, path or "(value)", str(node)))
        elif isinstance(node, float):
            text = repr(node)
            if sum(c.isdigit() for c in text) >= MIN_NUMBER_DIGITS:
                self.out.append(Segment(role, path or "(value)", text))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                self.walk(item, role, f"{path}[{i}]", depth + 1)
        elif isinstance(node, dict):
            own = node.get("role", node.get("from"))
            named = isinstance(own, str) and bool(own.strip())
            for key, value in node.items():
                where = f"{path}.{key}" if path else key
                if key.strip():
                    self.out.append(Segment("key", f"{where} (key)", key))
                # Top-level fields name their own texts ("metadata"); a message's texts take its role.
                child = own if named else (role if path else key)
                self.walk(value, child, where, depth + 1)


def _roles(obj: Any, fmt: str | None) -> dict[str, str]:
    """Text -> role from the normalised conversation (empty when the line is not an example of ``fmt``)."""
    from tools.data.formats import normalise

    if not isinstance(obj, dict) or fmt is None:
        return {}
    try:
        conv = normalise(obj, fmt)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return {}
    out: dict[str, str] = {}
    if conv.text:
        out.setdefault(conv.text, "text")
    for msg in conv.messages:
        if msg.content:
            out.setdefault(msg.content, msg.role)
        for call in msg.tool_calls or ():
            if call.arguments:
                out.setdefault(call.arguments, msg.role)
    for msg in conv.rejected or ():
        if msg.content:
            out.setdefault(msg.content, "rejected")
    return out


def segments(obj: Any, fmt: str | None, limits: Limits) -> tuple[list[Segment], str | None]:
    """Every leaf and key of ``obj`` as segments; or ([], why) when a limit stops the walk."""
    walker = _Walker(_roles(obj, fmt), limits)
    try:
        walker.walk(obj, "other", "", 0)
    except _TooDeep:
        return [], f"JSON nested more than {limits.max_depth} levels deep (the scan's limit); scanned as text"
    except _TooLong as exc:
        return [], (
            f"an integer of {exc.digits:,} digits (the scan's limit is {limits.max_int_digits}); scanned as text"
        )
    return walker.out, None


def raw_segment(text: str) -> list[Segment]:
    return [Segment("unparsed", "(raw line)", text)] if text.strip() else []


def read(
    path: Path, fmt: str | None, limits: Limits, *, start: int = 0, stop: int | None = None, first_number: int = 1
) -> Iterator[ScanLine]:
    """The lines of ``path`` that start in bytes ``start``..``stop``, each with what the scan must analyse."""
    from tools.data.jsonl import parse, read_lines

    for line in read_lines(path, max_bytes=limits.max_line_bytes, start=start, stop=stop, first_number=first_number):
        if line.text is None:
            why = line.detail or "unreadable"
            if line.problem == "line_too_long":
                why = f"the line is {line.size:,} bytes, over the scan's limit of {limits.max_line_bytes:,}; not read"
            yield ScanLine(line.number, None, "unread", problem=why)
            continue
        if line.blank:
            yield ScanLine(line.number, line.text, "blank")
            continue
        obj, err = parse(line, reject_duplicate_keys=True)
        if err is None:
            segs, err = segments(obj, fmt, limits)
            if err is None:
                example = isinstance(obj, dict) and fmt is not None
                yield ScanLine(line.number, line.text, "ok", obj, segs, example=example)
                continue
        yield ScanLine(line.number, line.text, "unparsed", None, raw_segment(line.text), problem=err)
