"""The ``scan_pii`` tool: Presidio over every value and key of a dataset, secrets too; report and redacted copy.

A fine-tuned model can replay its training data, and after training the only cure is to delete the model and
retrain, so this scan belongs before training. Each line is read raw (:mod:`tools.pii.lines`): every string,
key and long number, whatever the format reads of it; a line that does not parse is scanned as text; limits
on size, depth, digits and CPU time per line are findings, not crashes. Detection is :mod:`tools.pii.engine`,
on every core (:mod:`tools.pii.pool`).

With ``redact`` a new file is written (atomically: an interrupted scan leaves nothing behind) in the same
format. The second look (:mod:`tools.pii.second_look`) replaces every detected value, and each word of a
detected name, everywhere in the dataset with one consistent replacement; the changed lines are then scanned
again, and the result says what that shows: detections that remain, or none by a named detector whose recall
was measured on a named benchmark. The input is never changed.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.progress import report as progress
from tools.core.registry import tool
from tools.core.workspace import atomic_writer, current, sha256_file
from tools.pii.models import (
    EntityCount,
    LineProblem,
    PiiFinding,
    RedactionSummary,
    ReviewSample,
    RoleCount,
    ScanPiiRequest,
    ScanPiiResult,
    TemplateFinding,
)
from tools.pii.recognizers import PiiFacts
from tools.pii.redact import Redactor, mask_sample

__all__ = ["ScanPiiRequest", "ScanPiiResult", "scan_pii"]

BLOCK = 2000
"""Lines per block of work (a worker's unit)."""

MAX_REPORT_FINDINGS = 20000
MAX_REVIEW = 200
MAX_PROBLEMS = 20


@dataclass
class _Tally:
    """What pass 1 found, over all blocks. Raw values stay in memory (for the second look), never in output."""

    pf: PiiFacts
    lines: int = 0
    json_lines: int = 0
    examples: int = 0
    texts: int = 0
    non_latin: int = 0
    unique: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    roles: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    entity_lines: defaultdict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    lines_with: set[int] = field(default_factory=set)
    findings: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    deferred: list[Any] = field(default_factory=list)
    shared: Counter[int] = field(default_factory=Counter)
    problems: list[LineProblem] = field(default_factory=list)
    problems_total: int = 0
    left_out: list[int] = field(default_factory=list)
    templates: dict[tuple[str, str], int] = field(default_factory=dict)
    template_texts: frozenset[int] = frozenset()
    cpu: dict[int, float] = field(default_factory=dict)  # worker pid -> its CPU-seconds so far

    def add(self, det: Any) -> None:
        self.cpu_of(det.cpu)
        self.lines = max(self.lines, det.last_line)
        self.json_lines += det.json_lines
        self.examples += det.examples
        self.texts += det.texts
        self.non_latin += det.non_latin
        self.unique |= det.unique
        self.shared.update(det.shared)
        self.left_out += det.left_out
        self.problems_total += len(det.notes)
        room = MAX_PROBLEMS - len(self.problems)
        self.problems += [LineProblem(line=n.line, kind=n.kind, message=n.message) for n in det.notes[: max(0, room)]]
        for f in det.found:
            if f.template is None:
                self.count(f)
            else:
                self.deferred.append(f)

    def cpu_of(self, sample: tuple[int, float]) -> None:
        pid, seconds = sample
        self.cpu[pid] = max(self.cpu.get(pid, 0.0), seconds)

    def count(self, f: Any) -> None:
        from tools.pii.recognizers import is_secret

        self.counts[f.entity] += 1
        self.roles[f.entity][f.role] += 1
        self.entity_lines[f.entity].add(f.line)
        self.lines_with.add(f.line)
        self.values.setdefault(f.value.strip(), f.entity)
        if len(self.findings) < MAX_REPORT_FINDINGS:
            sample = mask_sample(f.value, f.entity, is_secret(f.entity))
            self.findings.append(
                {"line": f.line, "role": f.role, "entity": f.entity, "score": f.score, "sample": sample}
            )

    def settle(self) -> None:
        """Names and places in a system prompt shared by many examples are template text, not findings."""
        floor = max(self.pf.template.min_lines, self.pf.template.min_share * self.examples)
        self.template_texts = frozenset(h for h, n in self.shared.items() if n >= floor)
        for f in self.deferred:
            if f.template in self.template_texts:
                key = (f.entity, mask_sample(f.value, f.entity, False))
                self.templates[key] = self.templates.get(key, 0) + 1
            else:
                self.count(f)
        self.deferred = []
        self.findings.sort(key=lambda d: d["line"])
        self.left_out.sort()


@dataclass
class _Copy:
    replaced: int = 0
    changed: int = 0
    second_look: int = 0
    samples: list[ReviewSample] = field(default_factory=list)
    remaining: Counter[str] = field(default_factory=Counter)
    unchecked: list[int] = field(default_factory=list)


def _entities(pf: PiiFacts, wanted: list[str] | None) -> list[str]:
    known = {r.entity for r in pf.entities}
    chosen = list(dict.fromkeys(wanted)) if wanted else pf.default_entities()
    unknown = [e for e in chosen if e not in known]
    if unknown:
        raise ToolError(
            "unknown_entity", f"unknown entity types: {', '.join(unknown)}", "known: " + ", ".join(sorted(known))
        )
    return chosen


def _check_jsonl(src: Path, shown: str) -> None:
    """Refuse a file in which no line is a JSON object (stops at the first one that is)."""
    import json

    from tools.data.formats import FORMATS

    seen = 0
    with src.open("rb") as handle:
        while raw := handle.readline(1 << 20):  # a longer line is looked at in pieces: memory stays bounded
            if not raw.strip():
                continue
            seen += 1
            try:
                if isinstance(json.loads(raw), dict):
                    return
            except (ValueError, RecursionError):
                continue
    if seen:
        raise ToolError(
            "unsupported_format",
            f"{shown}: no line is a JSON object, so this is not a JSONL dataset",
            "supported: " + ", ".join(FORMATS) + "; convert CSV, Parquet or JSON first with `finetune prepare`",
        )


def _setup(language: str, wanted_model: str | None) -> str | None:
    """The spaCy model to load (None: blank); errors for a missing library or an unknown language."""
    from tools.core.extras import needs_extra

    try:
        import ahocorasick  # noqa: F401
        import presidio_analyzer  # noqa: F401
        import spacy
    except ImportError as exc:
        raise needs_extra(exc.name or "presidio_analyzer", "the PII scanner") from None
    from tools.pii.recognizers import pick_model

    try:
        spacy.util.get_lang_class(language)
    except (ImportError, KeyError, ValueError):
        raise ToolError(
            "pii_unknown_language",
            f"spaCy has no language {language!r}",
            "give an ISO 639-1 code spaCy supports (en, de, fr, es, it, nl, pt, pl, ...); for a mixed dataset use the "
            "main language",
        ) from None
    return pick_model(language, wanted_model)


def detector_name(model: str | None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    base = f"Presidio {ver('presidio-analyzer')}"
    if model is None:
        return base + " with no NER model (patterns only)"
    return f"{base} + spaCy {model} {ver(model.replace('_', '-'))} (tuned)"


def _workers(requested: int | None, size: int, pf: PiiFacts) -> int:
    from tools.pii.pool import cores

    if requested is not None:
        return requested
    return cores() if size >= pf.engine.parallel_min_bytes else 1


def _pass_one(pool: Any, blocks: list[Any], tally: _Tally, shown: str, size: int, total: int) -> None:
    from tools.pii import work

    for block, det in zip(blocks, pool.map(work.detect, [(b,) for b in blocks]), strict=True):
        tally.add(det)
        progress(block.stop if block.stop is not None else size, total, f"{shown}: scanned to line {det.last_line:,}")


def _subset(numbers: list[int] | set[int], first: int, last: int | None) -> frozenset[int]:
    return frozenset(n for n in numbers if n >= first and (last is None or n < last))


def _pass_two(pool: Any, blocks: list[Any], matcher: Any, tally: _Tally, sink: Any, size: int, samples: int) -> _Copy:
    from tools.pii import work

    copy = _Copy()
    tasks = []
    for i, b in enumerate(blocks):
        nxt = blocks[i + 1].first_line if i + 1 < len(blocks) else None
        tasks.append(
            (
                b,
                matcher,
                _subset(tally.left_out, b.first_line, nxt),
                _subset(tally.lines_with, b.first_line, nxt),
                tally.template_texts,
                samples,
            )
        )
    for block, red in zip(blocks, pool.map(work.redact, tasks), strict=True):
        tally.cpu_of(red.cpu)
        sink.write(red.text)
        copy.replaced += red.replaced
        copy.changed += len(red.changed)
        copy.second_look += len(red.second_look_lines)
        room = MAX_REVIEW - len(copy.samples)
        copy.samples += [ReviewSample(**vars_of(s)) for s in red.samples[: max(0, room)]]
        copy.remaining.update(f.entity for f in red.remaining)
        copy.unchecked += red.unchecked
        done = size + (block.stop if block.stop is not None else size)
        progress(done, 2 * size, f"redacting: line {block.first_line:,}")
    return copy


def vars_of(sample: Any) -> dict[str, Any]:
    return {k: getattr(sample, k) for k in ("line", "where", "start", "end", "entity", "second_look", "text")}


def statement(found: int, entities: list[str], unchecked: int, detector: str, recall: Any) -> str:
    """The re-scan's result in words: what remains, or no detections by whom, with the recall measured."""
    if found:
        return f"the re-scan by {detector} still detects {found} values ({', '.join(entities)}) in the redacted copy"
    text = f"no detections by {detector} in the redacted copy"
    if recall is not None:
        text += (
            f", whose recall on {recall.benchmark} is {recall.recall:.3f} (it misses about "
            f"{1 - recall.recall:.0%} of such values there)"
        )
    else:
        text += ", whose recall has not been measured for this model (benchmarks/bench_pii.py measures it)"
    if unchecked:
        text += f"; {unchecked} lines could not be re-scanned within the CPU budget"
    return text + "; a re-scan by the same detector cannot find what it missed the first time"


def _warnings(pf: PiiFacts, req: ScanPiiRequest, model: str | None, tally: _Tally, fmt: str | None) -> list[str]:
    from tools.knowledge.core import warning_texts

    out: list[str] = []
    if model is None:
        out.append(
            f"NO NAME DETECTION: no spaCy NER model for language {req.language!r} is installed, so names, places "
            f"and organisations are NOT detected (only patterns: e-mail, phone, cards, keys...). "
            f"Fix: {pf.language_fix(req.language)}, then scan again."
        )
    if tally.non_latin:
        out.append(
            f"{tally.non_latin} texts are mostly in a non-Latin script; the {model or 'blank'} model finds names in "
            f"them poorly: scan them with --language set to their language (fix for a language without a model: "
            f"{pf.language_fix('*')})"
        )
    if fmt is None:
        out.append("no supported dataset format detected; every string value and key was scanned")
    if tally.left_out:
        out.append(
            f"{len(tally.left_out)} lines were not read or not fully scanned (see line_problems)"
            + ("; they were left out of the redacted copy" if req.redact else "")
        )
    return out + warning_texts([pf.engine, pf.ner, pf.birth_date, pf.limits], file="pii.yaml")


def _entity_rows(pf: PiiFacts, tally: _Tally) -> list[EntityCount]:
    labels = {r.entity: r for r in pf.entities}
    return [
        EntityCount(
            entity=e,
            label=labels[e].label,
            kind=labels[e].kind,
            count=c,
            lines=len(tally.entity_lines[e]),
            by_role=[RoleCount(role=r, count=n) for r, n in tally.roles[e].most_common()],
        )
        for e, c in tally.counts.most_common()
    ]


def _redaction(
    req: ScanPiiRequest, ws: Any, out_path: Path, tally: _Tally, copy: _Copy, known: int, model: str | None
) -> RedactionSummary:
    from tools.pii.recognizers import facts

    detector = detector_name(model)
    recall = facts().recall_for(model) if model else None
    found = sum(copy.remaining.values())
    return RedactionSummary(
        path=ws.relative(out_path),
        mode=req.mode,
        known_values=known,
        replaced=copy.replaced,
        lines_changed=copy.changed,
        second_look_lines=copy.second_look,
        lines_left_out=tally.left_out[:20],
        left_out_total=len(tally.left_out),
        rescan_found=found,
        rescan_entities=sorted(copy.remaining),
        rescan_unchecked=len(copy.unchecked),
        detector=detector,
        recall=recall.recall if recall else None,
        recall_benchmark=recall.benchmark if recall else None,
        statement=statement(found, sorted(copy.remaining), len(copy.unchecked), detector, recall),
        review=copy.samples,
    )


@tool(effect="write", stage="pii", duration="minutes")
def scan_pii(req: ScanPiiRequest) -> ScanPiiResult:
    """Scans every value and key of a training dataset for personal data and secrets with Presidio, and can
    write a redacted copy.

    Use it before any training or upload: a fine-tuned model can repeat its training data and the only
    cure afterwards is delete-and-retrain. Finds names, street addresses, e-mail addresses, phone numbers,
    cards, IBANs, US SSNs, IP addresses, URLs, places, birth dates and API keys/tokens (OpenAI, Anthropic, AWS,
    GCP, GitHub, GitLab, Slack, Stripe, Hugging Face...), private keys and passwords, per entity type, role and
    line (samples masked). With `redact` it writes a new file in the same format with values masked, tagged,
    pseudonymised (consistent fakes) or hashed; every detected value and each word of a detected name is
    replaced wherever it occurs, and the copy is scanned again. Detection is statistical: the result states
    the detector's measured recall; no detection is not proof of absence.
    """
    from tools.data.formats import FORMATS, detect_file
    from tools.data.jsonl import sniff
    from tools.pii import report
    from tools.pii.pool import Workers, plan
    from tools.pii.recognizers import facts
    from tools.pii.work import Block

    started = time.perf_counter()
    cpu_started = time.process_time()
    ws = current()
    src = ws.input_file(req.path, what="dataset")
    shown = ws.relative(src)
    sniff(src, shown)
    if req.format is not None and req.format not in FORMATS:
        raise ToolError("unknown_format", f"unknown format {req.format!r}", "formats: " + ", ".join(FORMATS))
    pf = facts()
    wanted = _entities(pf, req.entities)
    out_path = ws.output_file(req.redact, inputs=(src,), what="redacted copy") if req.redact else None
    report_path = (
        ws.output_file(req.report, inputs=(src,), what="report")
        if req.report
        else ws.state_dir / "reports" / f"{src.stem}.pii.json"
    )
    if out_path is not None and report_path.resolve() == out_path.resolve():
        raise ToolError("output_clash", "the report and the redacted copy have the same path", "choose two names")
    _check_jsonl(src, shown)
    model = _setup(req.language, req.model)
    fmt = req.format or detect_file(src)
    size = src.stat().st_size
    count = _workers(req.workers, size, pf)
    spans = plan(src, BLOCK, max(1 << 16, size // (4 * count)) if count > 1 else 1 << 62)
    blocks = [Block(src, fmt, a, b, first, tuple(wanted), req.threshold) for a, b, first in spans]
    tally = _Tally(pf)
    copy: _Copy | None = None
    known = 0
    total = size * (2 if out_path else 1)
    with Workers(count, req.language, model) as pool:
        _pass_one(pool, blocks, tally, shown, size, total)
        tally.settle()
        if out_path is not None:
            matcher = _matcher(req, pf, tally)
            known = matcher.size
            with atomic_writer(out_path) as sink:
                copy = _pass_two(pool, blocks, matcher, tally, sink, size, MAX_REVIEW)
    result = ScanPiiResult(
        path=shown,
        sha256=sha256_file(src),
        format=fmt,
        lines=tally.lines,
        examples=tally.examples,
        texts_scanned=tally.texts,
        unique_texts=len(tally.unique),
        language=req.language,
        nlp_model=model or f"blank:{req.language}",
        detector=detector_name(model),
        names_detected=model is not None,
        entities_scanned=wanted,
        found_total=sum(tally.counts.values()),
        lines_with_findings=len(tally.lines_with),
        entities=_entity_rows(pf, tally),
        findings=[PiiFinding(**f) for f in tally.findings[: req.max_findings]],
        template_findings=[TemplateFinding(entity=e, sample=m, lines=n) for (e, m), n in tally.templates.items()],
        line_problems=tally.problems,
        line_problems_total=tally.problems_total,
        unreadable_lines=tally.left_out[:20],
        unreadable_total=len(tally.left_out),
        non_latin_texts=tally.non_latin,
        workers=count,
        warnings=_warnings(pf, req, model, tally, fmt),
        redaction=_redaction(req, ws, out_path, tally, copy, known, model) if out_path and copy else None,
        report_json=report.relative(ws, report_path),
        report_markdown=report.relative(ws, report_path.with_suffix(".md")),
        seconds=round(time.perf_counter() - started, 2),
        cpu_seconds=round(_cpu(tally, cpu_started), 2),
        ok=False,
    )
    result.ok = _ok(result)
    if result.redaction is not None:
        result.redaction.review = result.redaction.review[: req.max_findings]
        report.write(report_path, result, tally.findings, copy.samples if copy else [])
    else:
        report.write(report_path, result, tally.findings, [])
    return result


def _matcher(req: ScanPiiRequest, pf: PiiFacts, tally: _Tally) -> Any:
    import spacy

    from tools.pii.second_look import Known

    known = Known(pf.second_look, spacy.util.get_lang_class(req.language).Defaults.stop_words)
    for value, entity in tally.values.items():
        known.add(entity, value)
    return known.matcher(Redactor(req.mode, req.seed))


def _cpu(tally: _Tally, started: float) -> float:
    """CPU-seconds of this call: this process since the start, plus every worker process (model loading included)."""
    import os

    own = time.process_time() - started
    return own + sum(seconds for pid, seconds in tally.cpu.items() if pid != os.getpid())


def _ok(result: ScanPiiResult) -> bool:
    if result.redaction is not None:
        r = result.redaction
        return r.rescan_found == 0 and r.rescan_unchecked == 0 and r.left_out_total == 0
    return result.found_total == 0 and result.unreadable_total == 0
