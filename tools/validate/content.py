"""Content checks of one example, run inside the scan: what a format check cannot see.

:meth:`ContentScan.example` looks at one conversation and either reports a line finding at once (invisible
characters, mojibake, a degenerate answer) or adds to bounded tallies (contact details, filler prompts,
openings and closings, short labels, cut answers, scripts) that :func:`tools.validate.content_findings.findings`
turns into dataset findings. Tallies are plain counters and line lists, so the scan's forked workers send
theirs back and :meth:`ContentScan.merge` folds them. Messages never quote the example's text (it may hold
personal data); they name the message, the code point or the count, and the fix. Thresholds come from
reference/data/content_checks.yaml.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.data.formats import Conversation, Message
from tools.validate.content_facts import ContentFacts

_LINES = 1000  # line numbers kept per tally
_DISTINCT = 100_000  # distinct openings/closings/labels kept; a majority phrase is among the first ones

# C0/C1 controls except tab, newline and carriage return; zero-width space, LRM/RLM, bidi embeddings and
# isolates, word joiner and invisible operators, BOM inside text, object replacement, replacement character.
# Zero-width joiner/non-joiner and variation selectors are left out: emoji and several scripts need them.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufffc\ufffd]"
)
# English contractions whose curly apostrophe became the letter "a" (can't -> canat, I've -> Iave). Forms that
# are English words themselves (he'd -> "head", we've -> "weave", he've -> "heave") are left out.
_LOST_APOSTROPHE = re.compile(
    r"\b(?:(?:[Cc]a|[Ww]o|[Dd]o|[Dd]id|[Dd]oes|[Ii]s|[Aa]re|[Ww]as|[Ww]ere|[Hh]ave|[Hh]as|[Hh]ad|[Cc]ould|[Ww]ould"
    r"|[Ss]hould)nat|Ia(?:ve|ll|d)|(?:[Yy]ou|[Tt]hey)a(?:re|ve|ll|d)|[Ww]ea(?:re|ll)|(?:[Hh]e|[Ss]he|[Ii]t|[Tt]hat"
    r"|[Tt]here|[Ww]hat|[Ww]ho)a(?:s|ll))\b"
)
# Its cheap superset (no stems): searched first, as the full pattern is ~30x slower on text without a hit.
_LOST_APOSTROPHE_HINT = re.compile(r"(?:nat|a(?:ve|ll|re|s|d))\b")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"')\]]+", re.IGNORECASE)
# International (+CC ...) and area-code formats, vanity endings ("555-SNOW") included; not dates or IP addresses.
_PHONE = re.compile(
    r"(?<![\w+.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]\d{3,4}[ .-](?:\d{3,4}|[A-Z]{4})(?![\w.]\w)"
)
_SCRIPTS = (
    ("Latin", re.compile("[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")),
    ("Greek", re.compile("[\u0370-\u03ff\u1f00-\u1fff]")),
    ("Cyrillic", re.compile("[\u0400-\u052f]")),
    ("Armenian", re.compile("[\u0530-\u058f]")),
    ("Hebrew", re.compile("[\u0590-\u05ff]")),
    ("Arabic", re.compile("[\u0600-\u06ff\u0750-\u077f]")),
    ("Devanagari", re.compile("[\u0900-\u097f]")),
    ("Thai", re.compile("[\u0e00-\u0e7f]")),
    ("Hangul", re.compile("[\u1100-\u11ff\uac00-\ud7af]")),
    ("Kana", re.compile("[\u3040-\u30ff]")),
    ("Han", re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")),
)
_TERMINAL = frozenset(".!?…。！？‼⁇⁈⁉\"'”’»)]}>`*|")
_CUT_MARKS = frozenset(",:;-–—(")
_STRIP = ".,!?;:\"'()[]{}*_`“”‘’«»…"


@dataclass
class Hits:
    """How many examples a check matched, and the first (file, line) pairs."""

    count: int = 0
    lines: list[tuple[str, int]] = field(default_factory=list)

    def add(self, shown: str, line: int) -> None:
        self.count += 1
        if len(self.lines) < _LINES:
            self.lines.append((shown, line))

    def merge(self, other: Hits) -> None:
        self.count += other.count
        self.lines.extend(other.lines[: max(0, _LINES - len(self.lines))])


@dataclass
class Tallies:
    """Everything the dataset-level content findings need; picklable and mergeable."""

    answers: int = 0  # final assistant answers seen
    prompts: int = 0  # prompts (user turns answered) seen
    contact: dict[str, Hits] = field(default_factory=lambda: {"e-mail": Hits(), "phone": Hits(), "URL": Hits()})
    filler: Hits = field(default_factory=Hits)
    phrased: int = 0  # answers long enough to have an opening and a closing
    openings: Counter[str] = field(default_factory=Counter)
    closings: Counter[str] = field(default_factory=Counter)
    opening_lines: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    labels: Counter[str] = field(default_factory=Counter)
    long_answers: int = 0
    cut: Hits = field(default_factory=Hits)
    scripts: Counter[str] = field(default_factory=Counter)
    script_lines: dict[str, Hits] = field(default_factory=dict)

    def merge(self, other: Tallies) -> None:
        self.answers += other.answers
        self.prompts += other.prompts
        for kind, hits in other.contact.items():
            self.contact[kind].merge(hits)
        self.filler.merge(other.filler)
        self.phrased += other.phrased
        self.openings.update(other.openings)
        self.closings.update(other.closings)
        for phrase, lines in other.opening_lines.items():
            mine = self.opening_lines.setdefault(phrase, [])
            mine.extend(lines[: max(0, 20 - len(mine))])
        self.labels.update(other.labels)
        self.long_answers += other.long_answers
        self.cut.merge(other.cut)
        self.scripts.update(other.scripts)
        for script, hits in other.script_lines.items():
            self.script_lines.setdefault(script, Hits()).merge(hits)


def _dominant_script(text: str, min_letters: int) -> str | None:
    """The Unicode script most of ``text``'s letters are written in; None under ``min_letters`` letters."""
    if text.isascii():
        letters = sum(1 for c in text if c.isalpha()) if len(text) < 4 * min_letters else min_letters
        return "Latin" if letters >= min_letters else None
    counts = [(len(pattern.findall(text)), name) for name, pattern in _SCRIPTS]
    best, name = max(counts)
    return name if sum(n for n, _ in counts) >= min_letters and best else None


def _codepoints(found: list[str]) -> str:
    names = []
    for ch in dict.fromkeys(found):
        names.append(f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}")
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class ContentScan:
    """The content checks of one scan (one process); ``report(code, severity, message, line)`` adds a line finding."""

    def __init__(self, facts: ContentFacts) -> None:
        self.F = facts
        self.tallies = Tallies()
        self._is_bad: Callable[[str], bool] | None = None
        self._clean: set[str] = set()
        f = facts.filler_prompt
        self._filler_chars = 4 * f.max_letters + 8 * f.max_words  # longer prompts cannot be filler
        p = facts.repeated_phrase
        self._phrase_words = (p.min_words, p.max_words, facts.label_imbalance.max_words)

    def _mojibake(self, text: str) -> bool:
        if text.isascii():
            return False
        if self._is_bad is None:
            from ftfy.badness import is_bad

            self._is_bad = is_bad
        return self._is_bad(text)

    def example(self, shown: str, line: int, conv: Conversation, report: Callable[[str, str, str], None]) -> None:
        """Check one example; line findings go to ``report(code, severity, message)``."""
        msgs = conv.messages
        self._characters(msgs, report)
        if conv.text is not None:
            self._characters([Message("text", conv.text)], report, "the text")
        if not msgs or msgs[-1].role != "assistant" or not msgs[-1].content.strip():
            return
        answer = msgs[-1].content
        prompt = None
        for m in reversed(msgs):
            if m.role == "user":
                prompt = m.content
                break
        t = self.tallies
        t.answers += 1
        if prompt is not None:
            t.prompts += 1
            if len(prompt) <= self._filler_chars:
                self._filler(prompt, shown, line)
        self._contact(answer, shown, line)
        self._phrases(answer, shown, line)
        if len(answer) * 4 >= self.F.degenerate_repetition.min_bytes:
            self._degenerate(answer, len(msgs), report)
        self._cut(answer, shown, line)
        script = _dominant_script(answer, self.F.language_mix.min_letters)
        if script is not None:
            t.scripts[script] += 1
            hits = t.script_lines.get(script)
            if hits is None:
                hits = t.script_lines[script] = Hits()
            hits.add(shown, line)

    def _characters(self, msgs: list[Message], report: Callable[[str, str, str], None], name: str = "") -> None:
        F = self.F
        clean = self._clean
        for i, m in enumerate(msgs):
            content = m.content
            if not content or content in clean:
                continue
            where = name or f"message {i + 1} ({m.role})"
            found = _INVISIBLE.findall(content)
            if found:
                report(
                    "invisible_characters",
                    F.invisible_characters.severity,
                    f"{where}: {len(found)} control or invisible character(s) ({_codepoints(found)}); "
                    "remove them from the source text",
                )
            if self._mojibake(content):
                report(
                    "mojibake",
                    F.mojibake.severity,
                    f"{where}: text that looks mis-decoded (mojibake, e.g. 'â€™' for an apostrophe); "
                    "re-export the source as UTF-8 or repair it with ftfy.fix_text",
                )
            elif m.role != "system" and _LOST_APOSTROPHE_HINT.search(content):
                lost = len(_LOST_APOSTROPHE.findall(content))
                if lost >= F.mojibake.min_lost_apostrophes:
                    report(
                        "mojibake",
                        F.mojibake.severity,
                        f"{where}: {lost} contraction(s) whose apostrophe became the letter 'a' (like 'canat' for "
                        "can't), a lossy export; re-export the source keeping its curly apostrophes",
                    )
            elif len(content) > 200 and not found:  # a long clean string (a shared system prompt) is seen once
                if len(clean) > 256:
                    clean.clear()
                clean.add(content)

    def _filler(self, prompt: str, shown: str, line: int) -> None:
        f = self.F.filler_prompt
        if len(prompt.split()) <= f.max_words and sum(1 for c in prompt if c.isalpha()) <= f.max_letters:
            self.tallies.filler.add(shown, line)

    def _contact(self, answer: str, shown: str, line: int) -> None:
        contact = self.tallies.contact
        if "@" in answer and _EMAIL.search(answer):
            contact["e-mail"].add(shown, line)
        if ("http" in answer or "www." in answer or "WWW." in answer) and _URL.search(answer):
            contact["URL"].add(shown, line)
        if sum(answer.count(d) for d in "0123456789") >= 6 and _PHONE.search(answer):
            contact["phone"].add(shown, line)

    def _phrases(self, answer: str, shown: str, line: int) -> None:
        t = self.tallies
        lo, hi, labels = self._phrase_words
        head = answer[: 40 * hi].split(None, hi)
        if len(head) <= labels:
            label = " ".join(head)
            if label in t.labels or len(t.labels) < _DISTINCT:
                t.labels[label] += 1
        else:
            t.long_answers += 1
        if len(head) <= lo:  # too short to have an opening distinct from the whole answer
            return
        t.phrased += 1
        words = [w.strip(_STRIP).lower() for w in head[:hi]]
        tail = [w.strip(_STRIP).lower() for w in answer[-40 * hi :].rsplit(None, hi)[-hi:]]
        openings, closings = t.openings, t.closings
        for k in range(lo, min(hi, len(words) - 1) + 1):
            opening = " ".join(words[:k])
            if opening in openings or len(openings) < _DISTINCT:
                openings[opening] += 1
                kept = t.opening_lines.setdefault(opening, [])
                if len(kept) < 20:
                    kept.append((shown, line))
            closing = " ".join(tail[-k:])
            if closing in closings or len(closings) < _DISTINCT:
                closings[closing] += 1

    def _degenerate(self, answer: str, index: int, report: Callable[[str, str, str], None]) -> None:
        f = self.F.degenerate_repetition
        if len(answer) * 4 < f.min_bytes:
            return
        raw = answer.encode("utf-8", "surrogatepass")
        if len(raw) < f.min_bytes:
            return
        ratio = len(raw) / len(zlib.compress(raw))
        if ratio > f.max_compression_ratio:
            report(
                "degenerate_repetition",
                f.severity,
                f"message {index} (assistant): {len(answer):,} characters that compress {ratio:.0f}:1 (over "
                f"{f.max_compression_ratio:g}:1), the same text repeated over and over; cut the answer to what "
                "it should say once",
            )

    def _cut(self, answer: str, shown: str, line: int) -> None:
        text = answer.rstrip()
        last = text[-1]
        if last in _CUT_MARKS:  # a trailing comma, colon, dash: cut whatever the length
            self.tallies.cut.add(shown, line)
        elif last.isalnum() and text.count(" ") + 1 >= self.F.truncated_answer.min_words:
            if not text[text.rfind(" ") + 1 :].lower().startswith(("http", "www.")):
                self.tallies.cut.add(shown, line)

    def merge(self, other: Any) -> None:
        self.tallies.merge(other)
