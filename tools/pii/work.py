"""The per-line work of ``scan_pii`` on one block of lines: detection, then redaction with the re-scan.

Each function reads its block (a byte range of the file) itself and returns plain data, so it runs the same
in this process or in a worker process (:mod:`tools.pii.pool`). Raw values travel back to the parent in memory
only (it needs them for the second look); nothing here writes them anywhere.

Lines whose texts add up to more than one chunk are analysed on their own, within the CPU budget per line; a
line that runs out of it is reported and left out of the redacted copy, since what it holds was not all seen.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.pii.engine import PiiEngine
from tools.pii.lines import ScanLine, Segment, raw_segment, read, segments
from tools.pii.recognizers import Hit
from tools.pii.second_look import Matcher, Replaced

SNIPPET = 40
"""Characters of redacted text shown on each side of a replacement in a review sample."""


def digest(text: str) -> int:
    """A stable 64-bit digest of a text (Python's ``hash`` differs between processes)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Block:
    """One byte range of the dataset and everything a worker needs to scan it."""

    path: Path
    fmt: str | None
    start: int
    stop: int | None
    first_line: int
    entities: tuple[str, ...]
    threshold: float | None


@dataclass(slots=True)
class Found:
    line: int
    role: str
    entity: str
    score: float
    value: str
    template: int | None = None  # digest of the text, when its role and entity fall under the template rule


@dataclass(slots=True)
class Note:
    line: int
    kind: str  # unread, unparsed, budget
    message: str


def cpu_now() -> tuple[int, float]:
    """This process's id and the CPU-seconds it has used since it started (a forked worker starts at zero)."""
    import os
    import time

    return os.getpid(), time.process_time()


@dataclass
class Detected:
    cpu: tuple[int, float] = (0, 0.0)
    last_line: int = 0
    json_lines: int = 0
    examples: int = 0
    texts: int = 0
    non_latin: int = 0
    unique: set[int] = field(default_factory=set)
    found: list[Found] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    shared: Counter[int] = field(default_factory=Counter)
    left_out: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sample:
    line: int
    where: str
    start: int
    end: int
    entity: str
    second_look: bool
    text: str


@dataclass
class Redacted:
    cpu: tuple[int, float] = (0, 0.0)
    text: str = ""
    replaced: int = 0
    changed: list[int] = field(default_factory=list)
    second_look_lines: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    remaining: list[Found] = field(default_factory=list)
    unchecked: list[int] = field(default_factory=list)


def _analyse(
    eng: PiiEngine, lines: list[ScanLine], block: Block
) -> tuple[dict[int, list[tuple[Segment, list[Hit]]]], list[int]]:
    """Hits per segment of every line; small lines in one batch, big ones alone within the CPU budget."""
    limits = eng.facts.limits
    size = eng.facts.engine.chunk_chars
    out: dict[int, list[tuple[Segment, list[Hit]]]] = {}
    small = [ln for ln in lines if ln.segments and sum(len(s.text) for s in ln.segments) <= size]
    texts = [s.text for ln in small for s in ln.segments]
    hits = eng.analyze_many(texts, block.entities, block.threshold) if texts else []
    pos = 0
    for ln in small:
        out[ln.number] = list(zip(ln.segments, hits[pos : pos + len(ln.segments)], strict=True))
        pos += len(ln.segments)
    over: list[int] = []
    for ln in lines:
        if ln.segments and ln.number not in out:
            found, complete = eng.analyze_within(
                [s.text for s in ln.segments], block.entities, block.threshold, cpu_seconds=limits.line_cpu_seconds
            )
            out[ln.number] = list(zip(ln.segments, found, strict=True))
            if not complete:
                over.append(ln.number)
    return out, over


def detect(eng: PiiEngine, block: Block) -> Detected:
    """Scan one block: findings with their values, line notes, and what the template rule needs."""
    pf = eng.facts
    template_roles, template_entities = set(pf.template.roles), set(pf.template.entities)
    res = Detected()
    lines = list(
        read(block.path, block.fmt, pf.limits, start=block.start, stop=block.stop, first_number=block.first_line)
    )
    for ln in lines:
        res.last_line = ln.number
        if ln.kind == "unread":
            res.notes.append(Note(ln.number, "unread", ln.problem or "unreadable"))
            res.left_out.append(ln.number)
        elif ln.kind == "unparsed":
            res.notes.append(Note(ln.number, "unparsed", ln.problem or "not JSON"))
        res.json_lines += ln.kind == "ok" and isinstance(ln.obj, dict)
        res.examples += ln.example
        if ln.segments and any(s.role != "key" for s in ln.segments):
            res.shared.update({digest(s.text) for s in ln.segments if s.role in template_roles})
    analysed, over = _analyse(eng, lines, block)
    for number in over:
        res.notes.append(
            Note(
                number,
                "budget",
                f"the scan stopped after {pf.limits.line_cpu_seconds:g} CPU-seconds on this line (the limit per "
                "line); what it holds was not all checked",
            )
        )
        res.left_out.append(number)
    for number, pairs in analysed.items():
        for seg, hits in pairs:
            res.texts += 1
            key = digest(seg.text)
            res.unique.add(key)
            if eng.non_latin(seg.text):
                res.non_latin += 1
            for h in hits:
                template = key if seg.role in template_roles and h.entity in template_entities else None
                res.found.append(
                    Found(number, seg.role, h.entity, round(h.score, 2), seg.text[h.start : h.end], template)
                )
    res.left_out.sort()
    res.cpu = cpu_now()
    return res


def _rescan_segments(ln: ScanLine, new_obj: Any, new_text: str, fmt: str | None, eng: PiiEngine) -> list[Segment]:
    if ln.kind == "ok":
        segs, err = segments(new_obj, fmt, eng.facts.limits)
        return segs if err is None else raw_segment(new_text)
    return raw_segment(new_text)


def redact(
    eng: PiiEngine,
    block: Block,
    matcher: Matcher,
    left_out: frozenset[int],
    recheck: frozenset[int],
    templates: frozenset[int],
    samples: int,
) -> Redacted:
    """The redacted text of one block, what the re-scan of its changed lines still detects, review samples.

    ``left_out``: lines not written (not fully scanned); ``recheck``: lines with findings, re-scanned even when
    unchanged; ``templates``: digests of shared system prompts, whose name/place detections do not count.
    """
    pf = eng.facts
    res = Redacted()
    out: list[str] = []
    again: list[tuple[int, Segment]] = []
    for ln in read(block.path, block.fmt, pf.limits, start=block.start, stop=block.stop, first_number=block.first_line):
        if ln.kind == "unread" or ln.number in left_out or ln.text is None:
            continue
        log: list[Replaced] = []
        new_obj = None
        if ln.kind == "ok":
            new_obj = matcher.redact(ln.obj, log)
            new_text = json.dumps(new_obj, ensure_ascii=False) if log else ln.text
        else:
            new_text = matcher.sub(ln.text, "(raw line)", log)
        out.append(new_text + "\n")
        if log:
            res.replaced += len(log)
            res.changed.append(ln.number)
            if ln.number not in recheck:
                res.second_look_lines.append(ln.number)
            for r in log[: max(0, samples - len(res.samples))]:
                lo, hi = max(0, r.start - SNIPPET), min(len(r.text), r.end + SNIPPET)
                res.samples.append(
                    Sample(
                        ln.number,
                        r.where,
                        r.start,
                        r.end,
                        r.entity,
                        r.part or ln.number not in recheck,
                        ("..." if lo else "") + r.text[lo:hi] + ("..." if hi < len(r.text) else ""),
                    )
                )
        if log or ln.number in recheck:
            again += [(ln.number, s) for s in _rescan_segments(ln, new_obj, new_text, block.fmt, eng)]
    res.text = "".join(out)
    _rescan(eng, block, again, matcher, templates, res)
    res.cpu = cpu_now()
    return res


def _rescan(
    eng: PiiEngine,
    block: Block,
    again: list[tuple[int, Segment]],
    matcher: Matcher,
    templates: frozenset[int],
    res: Redacted,
) -> None:
    pf = eng.facts
    template_roles, template_entities = set(pf.template.roles), set(pf.template.entities)
    by_line: dict[int, ScanLine] = {}
    for number, seg in again:
        by_line.setdefault(number, ScanLine(number, None, "ok")).segments.append(seg)
    analysed, over = _analyse(eng, list(by_line.values()), block)
    res.unchecked += over
    for number, pairs in analysed.items():
        for seg, hits in pairs:
            for h in hits:
                value = seg.text[h.start : h.end]
                if value in matcher.fakes or value.strip() in matcher.fakes:
                    continue
                if seg.role in template_roles and h.entity in template_entities and digest(seg.text) in templates:
                    continue
                res.remaining.append(Found(number, seg.role, h.entity, round(h.score, 2), value))
