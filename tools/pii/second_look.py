"""The second look: every detected value, and each word of a detected name, found and replaced everywhere.

NER reads each text on its own, so it finds "Margaret Okafor" in one message and misses "Thanks Margaret," in
another, or the same surname inside a street name. After the scan, every detected value becomes a search term
for the whole dataset (keys and numbers included) and, for the entity types in ``second_look.parts_of``
(names), so does each word of it that could only be that name (a capitalised word of three letters or more,
not a stop word, not a title). Whole values match without regard to case, words with their case; matches must
stand alone (not inside a longer word); the longest leftmost match wins. Every occurrence of one value gets one
replacement, so the copy stays consistent; a word of a pseudonymised name gets the matching word of its fake.

The search is one Aho-Corasick automaton (pyahocorasick) per case mode, so its cost grows with the text, not
with the number of known values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tools.pii.lines import MIN_NUMBER_DIGITS, PROTECTED_KEYS
from tools.pii.recognizers import SecondLook
from tools.pii.redact import Redactor

_STRIP = '.,;:!?"()[]{}<>*'


@dataclass(frozen=True, slots=True)
class Replaced:
    """One replacement in an output string: where it now stands, and what it replaced."""

    where: str
    start: int
    end: int
    entity: str
    part: bool
    text: str = ""  # the whole output string


def _word(text: str) -> bool:
    return text.isalnum() or text == "_"


def _clean_part(word: str) -> str:
    word = word.strip(_STRIP)
    for tail in ("'s", "\u2019s"):
        if word.endswith(tail):
            word = word[: -len(tail)]
    return word.strip(_STRIP + "'\u2019")


class Known:
    """The values detected in a dataset, in file order; :meth:`matcher` turns them into search terms."""

    def __init__(self, rule: SecondLook, stop_words: Iterable[str]) -> None:
        self.rule = rule
        self.stop = frozenset(w.lower() for w in stop_words)
        self.titles = frozenset(t.lower() for t in rule.titles)
        self.values: dict[str, str] = {}  # value -> entity (first seen)

    def add(self, entity: str, value: str) -> None:
        value = value.strip()
        if len(value) >= 2 and value not in self.values:
            self.values[value] = entity

    def __len__(self) -> int:
        return len(self.values)

    def _usable_part(self, word: str) -> bool:
        letters = sum(c.isalpha() for c in word)
        return (
            letters >= self.rule.min_part_chars
            and word[:1].isupper()
            and all(c.isalpha() or c in "-'\u2019" for c in word)
            and word.lower() not in self.stop
            and word.lower().rstrip(".") not in self.titles
        )

    def matcher(self, redactor: Redactor) -> Matcher:
        """Every value with its replacement; multi-word names first, so their words follow their fakes."""
        terms: dict[str, tuple[str, str, bool]] = {}  # value -> (entity, replacement, is_part)
        parts: dict[str, tuple[str, str, int, int]] = {}  # word -> (entity, full value, index, count)
        for value, entity in self.values.items():
            words = value.split()
            if entity not in self.rule.parts_of or len(words) < 2:
                continue
            terms[value] = (entity, redactor.replacement(entity, value), False)
            for i, raw in enumerate(words):
                word = _clean_part(raw)
                if word and word not in parts and self._usable_part(word):
                    parts[word] = (entity, value, i, len(words))
        for value, entity in self.values.items():
            if value in terms:
                continue
            own = parts.get(value)
            if own is not None and own[0] == entity:
                terms[value] = (entity, redactor.part(entity, own[1], own[2], own[3], value), False)
            else:
                terms[value] = (entity, redactor.replacement(entity, value), False)
        for word, (entity, full, i, n) in parts.items():
            if word not in terms:
                terms[word] = (entity, redactor.part(entity, full, i, n, word), True)
        return Matcher(terms)


class Matcher:
    """Finds the known values in any string and replaces them; picklable (it travels to worker processes)."""

    def __init__(self, terms: dict[str, tuple[str, str, bool]]) -> None:
        import ahocorasick

        self.size = len(terms)
        self.fakes = frozenset(rep for _, rep, _ in terms.values())
        self._ci = ahocorasick.Automaton()
        self._cs = ahocorasick.Automaton()
        for value, (entity, rep, part) in terms.items():
            low = value.lower()
            payload = (len(value), value[:1], value[-1:], entity, rep, part)
            if not part and len(low) == len(value):
                self._ci.add_word(low, payload)
            else:
                self._cs.add_word(value, payload)
        self._ci.make_automaton()
        self._cs.make_automaton()

    def find(self, text: str) -> list[tuple[int, int, str, str, bool]]:
        """Non-overlapping matches in ``text`` (start, end, entity, replacement, is_part), leftmost-longest."""
        found: list[tuple[int, int, str, str, bool]] = []
        searches: list[tuple[Any, str]] = []
        if len(self._ci):
            low = text.lower()
            if len(low) == len(text):
                searches.append((self._ci, low))
        if len(self._cs):
            searches.append((self._cs, text))
        for automaton, haystack in searches:
            for last, (size, first_char, last_char, entity, rep, part) in automaton.iter(haystack):
                start, end = last - size + 1, last + 1
                if _word(first_char) and start > 0 and _word(text[start - 1]):
                    continue
                if _word(last_char) and end < len(text) and _word(text[end]):
                    continue
                found.append((start, end, entity, rep, part))
        if not found:
            return found
        found.sort(key=lambda m: (m[0], m[0] - m[1]))
        kept: list[tuple[int, int, str, str, bool]] = []
        for m in found:
            if not kept or m[0] >= kept[-1][1]:
                kept.append(m)
        return kept

    def sub(self, text: str, where: str, log: list[Replaced]) -> str:
        """``text`` with every match replaced; each replacement is appended to ``log``."""
        matches = self.find(text) if self.size else []
        if not matches:
            return text
        out: list[str] = []
        spans: list[tuple[int, int, str, bool]] = []
        pos = 0
        length = 0
        for start, end, entity, rep, part in matches:
            out.append(text[pos:start])
            length += start - pos
            out.append(rep)
            spans.append((length, length + len(rep), entity, part))
            length += len(rep)
            pos = end
        out.append(text[pos:])
        new = "".join(out)
        log += [Replaced(where, a, b, entity, part, new) for a, b, entity, part in spans]
        return new

    def redact(self, node: Any, log: list[Replaced], path: str = "") -> Any:
        """A copy of parsed JSON with every string, key and long number searched; protected values kept."""
        if isinstance(node, str):
            return self.sub(node, path or "(value)", log)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int | float):
            text = str(node) if isinstance(node, int) else repr(node)
            if sum(c.isdigit() for c in text) < MIN_NUMBER_DIGITS:
                return node
            new = self.sub(text, path or "(value)", log)
            return node if new == text else new
        if isinstance(node, list):
            return [self.redact(item, log, f"{path}[{i}]") for i, item in enumerate(node)]
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                mark = len(log)
                new_key = self.sub(key, "", log)
                while new_key in out:  # two keys replaced by the same tag: keep both
                    new_key += "_"
                where = f"{path}.{new_key}" if path else new_key
                for i in range(mark, len(log)):  # paths name the redacted key, never the original
                    r = log[i]
                    log[i] = Replaced(f"{where} (key)", r.start, r.end, r.entity, r.part, r.text)
                out[new_key] = value if key in PROTECTED_KEYS else self.redact(value, log, where)
            return out
        return node
