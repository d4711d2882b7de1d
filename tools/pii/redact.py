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
Where the values are searched for and replaced (every string, key and long number of every line) is
:mod:`tools.pii.second_look`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

RedactMode = Literal["mask", "tag", "pseudonym", "hash"]

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
_NATURAL = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "LOCATION", "IP_ADDRESS", "URL", "STREET_ADDRESS"}


def mask_sample(value: str, entity: str, secret: bool) -> str:
    """A report-safe sample: first character (or a secret's public vendor prefix) and the length, nothing else."""
    from tools.pii.recognizers import secret_prefix

    value = value.strip()
    if secret:
        return f"{secret_prefix(value)}*** ({len(value)} chars)"
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

    def part(self, entity: str, full: str, index: int, count: int, part: str) -> str:
        """The replacement of word ``index`` of ``count`` of the detected ``full`` value, seen alone elsewhere.

        A pseudonym keeps to the full value's fake ("Margaret" alone becomes the first name of the fake that
        replaced "Margaret Okafor"); the other modes treat the part as a value of its own.
        """
        if self.mode != "pseudonym":
            return self.replacement(entity, part)
        fake = self.replacement(entity, full).split()
        if not fake:
            return self.replacement(entity, part)
        pick = fake[0] if index == 0 else fake[-1] if index == count - 1 else fake[min(index, len(fake) - 1)]
        self._map.setdefault((entity, part), pick)
        self.fakes.add(pick)
        return pick

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
        if entity == "STREET_ADDRESS":
            return f"{n} {_PLACES[d[2] % len(_PLACES)]} Road"
        if entity == "IP_ADDRESS":
            return f"192.0.2.{1 + (n - 1) % 254}"
        return f"https://example.com/page-{n}"
