"""Replacing detected PII and secrets: the four modes, consistent pseudonyms, masked samples.

- ``mask``: every non-space character becomes ``*`` (the length stays, nothing is left to re-detect);
- ``tag``: ``<PERSON>``, ``<EMAIL_ADDRESS>``, ``<OPENAI_API_KEY>`` ...;
- ``pseudonym``: a realistic stand-in of the same kind (names, e-mail addresses at example.net,
  phone numbers in the 555-01xx fiction range, TEST-NET IP addresses, example.com URLs); numbered tags
  for kinds with no harmless look-alike (cards, IBANs, SSNs, secrets). The same value gets the same
  stand-in everywhere in the file, and the choice is seeded, so a rerun gives the same output;
- ``hash``: ``<EMAIL_ADDRESS:qkvbxhaeiw>``, a keyed hash (HMAC-SHA256 with the seed; letters only, so
  nothing in it looks like a number): equal values
  stay joinable without being readable.

:class:`Redactor` keeps the value -> replacement map in memory only; it is never written anywhere.
Replacement happens on the *raw* JSON of a line (every string value except structural keys such as
``role``), so the redacted file keeps its exact format, extra keys and images.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Literal

RedactMode = Literal["mask", "tag", "pseudonym", "hash"]

STRUCTURAL_KEYS = frozenset({"role", "from", "type", "schemaVersion", "weight", "tool_call_id", "id"})

_FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Robin",
    "Jamie",
    "Avery",
    "Riley",
    "Quinn",
    "Drew",
    "Harper",
    "Rowan",
    "Emery",
    "Hayden",
    "Reese",
    "Skyler",
    "Parker",
    "Dakota",
]
_LAST = [
    "Smith",
    "Garcia",
    "Brown",
    "Novak",
    "Larsen",
    "Silva",
    "Moreau",
    "Kowalski",
    "Tanaka",
    "Okoye",
    "Fischer",
    "Rossi",
    "Jensen",
    "Dubois",
    "Murphy",
    "Haddad",
    "Ivanova",
    "Costa",
    "Lindgren",
    "Patel",
]
_PLACES = [
    "Springfield",
    "Riverton",
    "Lakeside",
    "Fairview",
    "Greenville",
    "Oakridge",
    "Maplewood",
    "Brookfield",
    "Hillcrest",
    "Westbury",
]
_NATURAL = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "LOCATION", "IP_ADDRESS", "URL"}


def mask_sample(value: str, entity: str, secret: bool) -> str:
    """A report-safe sample: first character (or a secret's public prefix) and the length, nothing else."""
    value = value.strip()
    if secret:
        prefix = re.match(
            r"^(?:sk-ant-|sk-proj-|sk-|gh[pousr]_|github_pat_|AKIA|ASIA|AIza|ya29\.|xox[a-z]-|"
            r"[sr]k_(?:live|test)_|eyJ|-----BEGIN)",
            value,
        )
        shown = prefix.group(0) if prefix else ""
        return f"{shown}*** ({len(value)} chars)"
    if entity == "EMAIL_ADDRESS" and "@" in value:
        return f"{value[0]}***@*** ({len(value)} chars)"
    return f"{value[:1]}*** ({len(value)} chars)"


class Redactor:
    """Turns (entity, value) into its replacement for one mode, consistently for a whole file."""

    def __init__(self, mode: RedactMode, seed: int = 0) -> None:
        self.mode = mode
        self.key = hashlib.sha256(f"finetune-skill-redact:{seed}".encode()).digest()
        self._map: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self.fakes: set[str] = set()

    def _digest(self, entity: str, value: str) -> bytes:
        return hmac.new(self.key, f"{entity}\x00{value}".encode(), hashlib.sha256).digest()

    def replacement(self, entity: str, value: str) -> str:
        key = (entity, value)
        found = self._map.get(key)
        if found is not None:
            return found
        if self.mode == "mask":
            new = re.sub(r"\S", "*", value)
        elif self.mode == "tag":
            new = f"<{entity}>"
        elif self.mode == "hash":
            letters = "".join(chr(97 + b % 26) for b in self._digest(entity, value)[:10])  # no digits to re-detect
            new = f"<{entity}:{letters}>"
        else:
            new = self._pseudonym(entity, value)
            self.fakes.add(new)
        self._map[key] = new
        return new

    def _pseudonym(self, entity: str, value: str) -> str:
        n = self._counts.get(entity, 0) + 1
        self._counts[entity] = n
        d = self._digest(entity, value)
        first, last = _FIRST[d[0] % len(_FIRST)], _LAST[d[1] % len(_LAST)]
        if entity not in _NATURAL:
            return f"<{entity}_{n}>"
        if entity == "PERSON":
            return first if len(value.split()) == 1 else f"{first} {last}"
        if entity == "EMAIL_ADDRESS":
            return f"{first.lower()}.{last.lower()}{n}@example.net"
        if entity == "PHONE_NUMBER":
            return f"+1-202-555-{100 + (n - 1) % 100:04d}" if n <= 100 else f"+1-303-555-{100 + n % 100:04d}"
        if entity == "LOCATION":
            return _PLACES[d[2] % len(_PLACES)]
        if entity == "IP_ADDRESS":
            return f"192.0.2.{1 + (n - 1) % 254}"
        return f"https://example.com/page-{n}"


def compile_values(values: dict[str, str]) -> re.Pattern[str] | None:
    """One regex matching any of ``values`` (longest first), not inside a longer word."""
    if not values:
        return None
    parts = []
    for value in sorted(values, key=len, reverse=True):
        escaped = re.escape(value)
        left = r"(?<![\w])" if value[:1].isalnum() else ""
        right = r"(?![\w])" if value[-1:].isalnum() else ""
        parts.append(f"{left}{escaped}{right}")
    return re.compile("|".join(parts))


def redact_value(
    obj: Any, pattern: re.Pattern[str], replace: dict[str, str], key: str | None = None
) -> tuple[Any, int]:
    """``obj`` (parsed JSON) with every match of ``pattern`` in its strings replaced; and how many."""
    if isinstance(obj, str):
        if key in STRUCTURAL_KEYS:
            return obj, 0
        count = 0

        def sub(m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return replace[m.group(0)]

        return pattern.sub(sub, obj), count
    if isinstance(obj, list):
        total = 0
        out_list = []
        for item in obj:
            new, n = redact_value(item, pattern, replace, key)
            out_list.append(new)
            total += n
        return out_list, total
    if isinstance(obj, dict):
        total = 0
        out_dict = {}
        for k, v in obj.items():
            new, n = redact_value(v, pattern, replace, k)
            out_dict[k] = new
            total += n
        return out_dict, total
    return obj, 0
