"""Streaming JSONL reader with line numbers, robust to whatever a real file contains.

:func:`read_lines` yields one :class:`Line` per physical line (1-based ``number``, byte ``offset``)
without ever holding more than one line in memory. Problems are reported on the line, never
raised: a UTF-8 byte-order mark, invalid UTF-8, a blank line, a line longer than ``max_bytes``
(skipped without being read into memory), a last line without its newline. :func:`parse` turns a
line into a JSON value or a problem. :func:`sniff` looks at the head of a file and refuses what is
clearly not JSONL (binary, a folder, a JSON array) with a :class:`ToolError` naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError

BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


@dataclass(slots=True)
class Line:
    """One physical line of a file. ``text`` is None when it could not be decoded or was too long."""

    number: int
    offset: int
    text: str | None
    problem: str | None = None  # code: bom, invalid_utf8, line_too_long, truncated_line
    detail: str = ""
    size: int = 0

    @property
    def blank(self) -> bool:
        return self.text is not None and (not self.text or self.text.isspace())


def _decode(raw: bytes, number: int, offset: int) -> Line:
    size = len(raw)
    problem = None
    detail = ""
    if raw.startswith(BOM):
        raw = raw[3:]
        problem, detail = "bom", "the line starts with a UTF-8 byte-order mark (BOM)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Line(
            number,
            offset,
            None,
            "invalid_utf8",
            f"invalid UTF-8 at byte {exc.start} of the line ({raw[exc.start : exc.start + 4]!r})",
            size,
        )
    return Line(number, offset, text.rstrip("\r\n"), problem, detail, size)


def read_lines(
    path: Path, *, max_bytes: int = 16 << 20, start: int = 0, stop: int | None = None, first_number: int = 1
) -> Iterator[Line]:
    """Yield every line of ``path`` that starts in bytes ``start``..``stop``, numbered from ``first_number``.

    A line longer than ``max_bytes`` is consumed in chunks and yielded with ``text=None`` and
    problem ``line_too_long``; memory stays bounded by ``max_bytes``.
    """
    number = first_number - 1
    with path.open("rb") as handle:
        if start:
            handle.seek(start)
        offset = start
        while stop is None or offset < stop:
            raw = handle.readline(max_bytes + 1)
            if not raw:
                return
            number += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # skip the rest of the oversized line without keeping it
                    more = handle.readline(_CHUNK)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield Line(
                    number,
                    offset,
                    None,
                    "line_too_long",
                    f"the line is {size:,} bytes, over the {max_bytes:,}-byte limit; not parsed",
                    size,
                )
                offset += size
                continue
            line = _decode(raw, number, offset)
            if not raw.endswith(b"\n") and line.problem is None and line.text is not None and not line.blank:
                line.problem, line.detail = "no_final_newline", "the last line has no newline at the end"
            yield line
            offset += len(raw)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: Any) -> str | None:
    """The first string in ``value`` holding an unpaired UTF-16 surrogate (no UTF-8 text can carry one)."""
    if isinstance(value, str):
        return value if _LONE_SURROGATE.search(value) else None
    if isinstance(value, dict):
        items: Any = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = lone_surrogate(item)
        if found is not None:
            return found
    return None


class DuplicateKey(ValueError):
    """An object of the line has the same key twice (JSON parsers keep only one of the two values)."""


def _shown_key(key: str) -> str:
    """A key name safe to print: plain lower-case words only; anything else (it may be a secret) is masked."""
    if len(key) <= 24 and key.replace("_", "").isalpha() and key.isascii() and key.islower():
        return repr(key)
    return f"of {len(key)} characters (not shown)"


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return out


def parse(line: Line, *, reject_duplicate_keys: bool = False) -> tuple[Any, str | None]:
    """The JSON value of ``line``, or (None, message) when it is not valid JSON (or holds text no model can
    encode: an unpaired surrogate escape such as ``\\ud800``).

    With ``reject_duplicate_keys`` an object holding one key twice is refused too: a reader keeps only one of
    the two values, so the other would be invisible to every check (the PII scan uses this).
    """
    assert line.text is not None
    try:
        if reject_duplicate_keys:
            value = json.loads(line.text, object_pairs_hook=_unique_pairs)
        else:
            value = json.loads(line.text)  # the default decoder: no per-call set-up
        if _SURROGATE_ESCAPE.search(line.text) and lone_surrogate(value) is not None:
            return None, "unpaired UTF-16 surrogate escape (such as \\ud800): the text cannot be encoded as UTF-8"
        return value, None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except DuplicateKey as exc:
        key = _shown_key(exc.args[0])
        return None, f"duplicate key {key} in one object: a JSON reader keeps only one of the values"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError:  # an integer of more than 4,300 digits
        return None, "invalid JSON: a number too long to read (more than 4,300 digits)"


def sniff(path: Path, shown: str) -> None:
    """Refuse a file that is clearly not JSONL, naming it; an empty file passes (it gets a finding)."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    for bom, name in ((b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(bom):
            raise ToolError(
                "wrong_encoding",
                f"{shown} is encoded as {name}, not UTF-8",
                "re-save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)",
            )
    if b"\x00" in head:
        if head.startswith(b"PAR1"):
            raise ToolError(
                "not_jsonl",
                f"{shown} is a Parquet file, not JSONL",
                f"convert it first: finetune convert {shown} --out data.jsonl",
            )
        if len(head) >= 8 and (head[1::2].count(0) > len(head) // 3 or head[0::2].count(0) > len(head) // 3):
            raise ToolError(
                "wrong_encoding",
                f"{shown} looks like UTF-16 text without a byte-order mark, not UTF-8",
                "re-save it as UTF-8 (e.g. iconv -f UTF-16LE -t UTF-8)",
            )
        raise ToolError(
            "binary_file",
            f"{shown} is a binary file (it contains NUL bytes), not JSONL",
            "give a UTF-8 text file with one JSON object per line",
        )
    stripped = head.lstrip(BOM).lstrip()
    if stripped.startswith(b"[") and b"\n" in stripped:
        first_line = stripped.split(b"\n", 1)[0].strip()
        if first_line in (b"[", b"[{"):  # a pretty-printed array; a corrupt first line gets a finding
            raise ToolError(
                "not_jsonl",
                f"{shown} looks like a JSON array spread over many lines, not JSONL",
                f"convert it: finetune convert {shown} --out data.jsonl",
            )
