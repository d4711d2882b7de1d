"""The ``scan_pii`` tool: Presidio over every message of a dataset, secrets too; report and redacted copy.

A fine-tuned model can replay its training data, and after training the only cure is to delete the
model and retrain, so this scan belongs before training. Every supported dataset format is read through
:mod:`tools.data.formats` (the same readers as the data pipeline); every message text, tool-call argument and
rejected answer is analysed by :mod:`tools.pii.recognizers`. The report counts findings per entity type,
per role and per line; its samples are masked (first character and length), never raw.

With ``redact`` a new file is written (atomically: an interrupted scan leaves nothing behind) in the same
format, each detected value replaced everywhere in its line; the redacted lines are scanned again and
what is still found is reported. The input is never changed.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath
from tools.core.progress import report as progress
from tools.core.registry import tool
from tools.core.workspace import atomic_writer, current, sha256_file
from tools.pii.redact import RedactMode, Redactor, compile_values, mask_sample, redact_value

BLOCK = 2000


class ScanPiiRequest(BaseModel):
    """Scan a dataset for personal data and secrets; optionally write a redacted copy."""

    path: InputPath = Field(description="the dataset (JSONL in any supported format)")
    format: str | None = Field(None, description="force a format instead of detecting it")
    redact: OutputPath | None = Field(None, description="write a redacted copy here (same format)")
    mode: RedactMode = Field(
        "tag",
        description="mask: ****; tag: <PERSON>; pseudonym: consistent fakes; "
        "hash: <PERSON:keyed hash> (keyed by seed: keep it private)",
    )
    entities: list[str] | None = Field(
        None, description="entity types to look for (default: the tuned set in reference/data/pii.yaml)"
    )
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="one score threshold for every entity (default: tuned per entity)"
    )
    language: str = Field("en", description="language of the texts (a spaCy model for it should be installed)")
    model: str | None = Field(None, description="spaCy model package to use, or 'blank' (default: best installed)")
    seed: int = Field(
        0,
        description="seed for pseudonyms and the hash key; for mode=hash use a private number, "
        "else short values such as phone numbers can be recovered by trying them all",
    )
    report: OutputPath | None = Field(
        None,
        description="where to write the full JSON report (a .md beside it); default .finetune/reports/<file>.pii.json",
    )
    max_findings: int = Field(20, ge=0, le=500, description="findings to return inline")


class RoleCount(BaseModel):
    role: str
    count: int


class EntityCount(BaseModel):
    entity: str
    label: str
    kind: str
    count: int
    lines: int
    by_role: list[RoleCount]


class PiiFinding(BaseModel):
    line: int
    role: str
    entity: str
    score: float
    sample: str = Field(description="masked: first character and length only")


class TemplateFinding(BaseModel):
    entity: str
    sample: str
    lines: int = Field(description="examples whose system prompt holds it")


class RedactionSummary(BaseModel):
    path: str
    mode: str
    replaced: int
    lines_changed: int
    lines_left_out: list[int] = Field(description="lines that could not be read, so not copied (first 20)")
    rescan_found: int = Field(description="findings of the redacted types still present after redaction")
    rescan_entities: list[str]


class ScanPiiResult(BaseModel):
    path: str
    sha256: str = Field(description="SHA-256 of the dataset's bytes when scanned")
    format: str | None
    lines: int
    examples: int
    texts_scanned: int
    unique_texts: int
    language: str
    nlp_model: str
    names_detected: bool = Field(description="false with a blank pipeline: names, places are not detected")
    entities_scanned: list[str]
    found_total: int
    lines_with_findings: int
    entities: list[EntityCount]
    findings: list[PiiFinding]
    template_findings: list[TemplateFinding] = Field(
        description="names/places in a system prompt shared by many examples (brand or product names): "
        "reported once, not counted, not redacted"
    )
    unreadable_lines: list[int]
    unreadable_total: int
    non_latin_texts: int
    warnings: list[str]
    redaction: RedactionSummary | None
    report_json: str
    report_markdown: str
    seconds: float
    ok: bool = Field(description="true when nothing was found, or a redacted copy was written and is clean")


@dataclass
class _Line:
    number: int
    text: str | None
    obj: Any = None
    fmt: str | None = None
    segments: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    problem: str | None = None


def _leaves(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for item in obj:
            yield from _leaves(item)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key not in ("role", "from", "type", "schemaVersion"):
                yield from _leaves(value)


def _segments(obj: Any, fmt: str | None) -> list[tuple[str, str]]:
    from tools.data.formats import normalise

    if not isinstance(obj, dict) or fmt is None:
        return [("other", s) for s in _leaves(obj)]
    conv = normalise(obj, fmt)
    out: list[tuple[str, str]] = []
    if conv.text is not None:
        out.append(("text", conv.text))
    for msg in conv.messages:
        out.append((msg.role, msg.content))
        for call in msg.tool_calls or ():
            out.append((msg.role, call.arguments))
    for msg in conv.rejected or ():
        out.append(("rejected", msg.content))
    return [(r, t) for r, t in out if t and t.strip()]


def _read(path: Path, fmt: str | None) -> Iterator[_Line]:
    from tools.data.jsonl import parse, read_lines

    for line in read_lines(path):
        if line.text is None:
            yield _Line(line.number, None, problem=line.detail or "unreadable")
            continue
        if line.blank:
            yield _Line(line.number, line.text)
            continue
        obj, err = parse(line)
        if err is not None:
            yield _Line(line.number, line.text, segments=[("unparsed", line.text)], problem=err)
        else:
            yield _Line(line.number, line.text, obj, fmt, _segments(obj, fmt))


def _blocks(lines: Iterator[_Line]) -> Iterator[list[_Line]]:
    block: list[_Line] = []
    for item in lines:
        block.append(item)
        if len(block) >= BLOCK:
            yield block
            block = []
    if block:
        yield block


@tool(effect="write", stage="pii", duration="minutes")
def scan_pii(req: ScanPiiRequest) -> ScanPiiResult:
    """Scans every message of a training dataset for personal data and secrets with Presidio, and can write a
    redacted copy.

    Use it before any training or upload: a fine-tuned model can repeat its training data and the only
    cure afterwards is delete-and-retrain. Finds names, e-mail addresses, phone numbers, cards, IBANs,
    US SSNs, IP addresses, URLs, places, birth dates and API keys/tokens/private keys/passwords, per
    entity type, role and line (samples masked). With `redact` it writes a new file in the same format
    with values masked, tagged, pseudonymised (consistent fakes) or hashed, and re-scans it. Detection is
    statistical: a clean report lowers the risk, it does not prove absence.
    """
    from tools.data.formats import FORMATS, detect_file
    from tools.data.jsonl import sniff
    from tools.knowledge.core import warning_texts
    from tools.pii.engine import engine
    from tools.pii.recognizers import facts, is_secret

    started = time.perf_counter()
    ws = current()
    src = ws.input_file(req.path, what="dataset")
    shown = ws.relative(src)
    sniff(src, shown)
    if req.format is not None and req.format not in FORMATS:
        raise ToolError("unknown_format", f"unknown format {req.format!r}", "formats: " + ", ".join(FORMATS))
    pf = facts()
    known = {r.entity for r in pf.entities}
    wanted = list(dict.fromkeys(req.entities)) if req.entities else pf.default_entities()
    unknown = [e for e in wanted if e not in known]
    if unknown:
        raise ToolError(
            "unknown_entity", f"unknown entity types: {', '.join(unknown)}", "known: " + ", ".join(sorted(known))
        )
    out_path = ws.output_file(req.redact, inputs=(src,), what="redacted copy") if req.redact else None
    report_path = (
        ws.output_file(req.report, inputs=(src,), what="report")
        if req.report
        else ws.state_dir / "reports" / f"{src.stem}.pii.json"
    )
    if out_path is not None and report_path.resolve() == out_path.resolve():
        raise ToolError("output_clash", "the report and the redacted copy have the same path", "choose two names")
    fmt = req.format or detect_file(src)
    eng = engine(req.language, req.model)
    redactor = Redactor(req.mode, req.seed) if out_path is not None else None

    counts: Counter[str] = Counter()
    role_counts: dict[str, Counter[str]] = defaultdict(Counter)
    entity_lines: dict[str, set[int]] = defaultdict(set)
    lines_with: set[int] = set()
    findings: list[dict[str, Any]] = []
    unreadable: list[int] = []
    totals = {"lines": 0, "examples": 0, "texts": 0, "non_latin": 0, "replaced": 0, "changed": 0}
    unique: set[int] = set()
    rescan: Counter[str] = Counter()

    def process(block: list[_Line], sink: Any) -> None:
        texts = [t for ln in block for _, t in ln.segments]
        hits_list = eng.analyze_many(texts, wanted, req.threshold)
        unique.update(hash(t) for t in texts)
        pos = 0
        changed: list[tuple[_Line, Any, dict[str, str]]] = []
        for ln in block:
            totals["lines"] = ln.number
            values: dict[str, str] = {}
            if ln.obj is not None and isinstance(ln.obj, dict) and ln.fmt:
                totals["examples"] += 1
            for role, text in ln.segments:
                hits = hits_list[pos]
                pos += 1
                totals["texts"] += 1
                if eng.non_latin(text):
                    totals["non_latin"] += 1
                is_template = role in pf.template.roles and hash(text) in template_texts
                for h in hits:
                    value = text[h.start : h.end]
                    if is_template and h.entity in pf.template.entities:
                        key = (h.entity, mask_sample(value, h.entity, False))
                        templates[key] = templates.get(key, 0) + 1
                        continue
                    counts[h.entity] += 1
                    role_counts[h.entity][role] += 1
                    entity_lines[h.entity].add(ln.number)
                    lines_with.add(ln.number)
                    values.setdefault(value, h.entity)
                    findings.append(
                        {
                            "line": ln.number,
                            "role": role,
                            "entity": h.entity,
                            "score": round(h.score, 2),
                            "sample": mask_sample(value, h.entity, is_secret(h.entity)),
                        }
                    )
            if ln.text is None:
                unreadable.append(ln.number)
            if sink is None:
                continue
            if ln.text is None:
                continue  # cannot be read, so cannot be vouched for: left out of the redacted copy
            if not values:
                sink.write(ln.text + "\n")
                continue
            assert redactor is not None
            replace = {v: redactor.replacement(e, v) for v, e in values.items()}
            pattern = compile_values(replace)
            assert pattern is not None
            new_obj, n = redact_value(ln.obj if ln.obj is not None else ln.text, pattern, replace)
            totals["replaced"] += n
            totals["changed"] += 1
            sink.write((new_obj if isinstance(new_obj, str) else json.dumps(new_obj, ensure_ascii=False)) + "\n")
            changed.append((ln, new_obj, replace))
        if changed and redactor is not None:
            again = [
                seg
                for ln, obj, _ in changed
                for seg in (_segments(obj, ln.fmt) if ln.obj is not None else [("unparsed", obj)])
            ]
            found = eng.analyze_many([t for _, t in again], wanted, req.threshold)
            for (role, text), hits in zip(again, found, strict=True):
                is_template = role in pf.template.roles and hash(text) in template_texts
                for h in hits:
                    if is_template and h.entity in pf.template.entities:
                        continue
                    if text[h.start : h.end] not in redactor.fakes:
                        rescan[h.entity] += 1
        progress(block[-1].number, None, f"{shown}: line {block[-1].number}")

    # Pre-pass: how many lines share each system prompt (for the template rule).
    shared: Counter[int] = Counter()
    n_examples = n_json = n_lines = 0
    for ln in _read(src, fmt):
        n_lines += 1
        n_json += isinstance(ln.obj, dict)
        if ln.segments:
            n_examples += 1
            shared.update({hash(t) for role, t in ln.segments if role in pf.template.roles})
    if n_lines and not n_json:
        raise ToolError(
            "unsupported_format",
            f"{shown}: no line is a JSON object, so this is not a JSONL dataset",
            "supported: " + ", ".join(FORMATS) + "; convert CSV, Parquet or JSON first with `finetune prepare`",
        )
    floor = max(pf.template.min_lines, pf.template.min_share * n_examples)
    template_texts = {h for h, n in shared.items() if n >= floor}
    templates: dict[tuple[str, str], int] = {}

    lines_iter = _read(src, fmt)
    if out_path is not None:
        with atomic_writer(out_path) as sink:
            for block in _blocks(lines_iter):
                process(block, sink)
    else:
        for block in _blocks(lines_iter):
            process(block, None)

    warnings: list[str] = []
    if not eng.ner:
        warnings.append(
            f"NO NAME DETECTION: no spaCy model for {req.language!r} is installed, so names, places "
            "and organisations are NOT detected (only patterns: e-mail, phone, cards, keys...). "
            "Install one, e.g. pip install 'finetune-skill[pii]'."
        )
    if totals["non_latin"]:
        warnings.append(
            f"{totals['non_latin']} texts are mostly in a non-Latin script; the {eng.model} model "
            f"finds names in them poorly (pass --language and install a model for it)"
        )
    if fmt is None:
        warnings.append("no supported dataset format detected; every string value was scanned")
    if unreadable:
        warnings.append(
            f"{len(unreadable)} lines could not be read (too long or not UTF-8) and were not scanned"
            + ("; they were left out of the redacted copy" if out_path else "")
        )
    warnings += warning_texts([pf.engine, pf.ner, pf.birth_date], file="pii.yaml")

    labels = {r.entity: r for r in pf.entities}
    entity_rows = [
        EntityCount(
            entity=e,
            label=labels[e].label,
            kind=labels[e].kind,
            count=c,
            lines=len(entity_lines[e]),
            by_role=[RoleCount(role=r, count=n) for r, n in role_counts[e].most_common()],
        )
        for e, c in counts.most_common()
    ]
    redaction = None
    if out_path is not None:
        redaction = RedactionSummary(
            path=ws.relative(out_path),
            mode=req.mode,
            replaced=totals["replaced"],
            lines_changed=totals["changed"],
            lines_left_out=unreadable[:20],
            rescan_found=sum(rescan.values()),
            rescan_entities=sorted(rescan),
        )
    result = ScanPiiResult(
        path=shown,
        sha256=sha256_file(src),
        format=fmt,
        lines=totals["lines"],
        examples=totals["examples"],
        texts_scanned=totals["texts"],
        unique_texts=len(unique),
        language=req.language,
        nlp_model=eng.model,
        names_detected=eng.ner,
        entities_scanned=wanted,
        found_total=sum(counts.values()),
        lines_with_findings=len(lines_with),
        entities=entity_rows,
        findings=[PiiFinding(**f) for f in findings[: req.max_findings]],
        template_findings=[TemplateFinding(entity=e, sample=m, lines=n) for (e, m), n in templates.items()],
        unreadable_lines=unreadable[:20],
        unreadable_total=len(unreadable),
        non_latin_texts=totals["non_latin"],
        warnings=warnings,
        redaction=redaction,
        report_json=_rel(ws, report_path),
        report_markdown=_rel(ws, report_path.with_suffix(".md")),
        seconds=round(time.perf_counter() - started, 2),
        ok=(not counts) or (redaction is not None and redaction.rescan_found == 0 and not unreadable),
    )
    _write_reports(report_path, result, findings)
    return result


def _rel(ws: Any, path: Path) -> str:
    try:
        return ws.relative(path)
    except ValueError:
        return str(path)


MAX_REPORT_FINDINGS = 20000


def _write_reports(path: Path, result: ScanPiiResult, findings: list[dict[str, Any]]) -> None:
    from tools.core.workspace import write_text_atomic

    data = result.model_dump(mode="json")
    data["findings"] = findings[:MAX_REPORT_FINDINGS]
    data["findings_truncated"] = len(findings) > MAX_REPORT_FINDINGS
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(path.with_suffix(".md"), render_markdown(result, findings))


def render_markdown(result: ScanPiiResult, findings: list[dict[str, Any]]) -> str:
    """The human report: summary, warnings, per-entity table, the first findings (samples masked)."""
    out = [f"# PII and secrets scan: {result.path}", ""]
    out.append(
        f"- format: {result.format or 'unknown'}; {result.lines} lines, {result.examples} examples, "
        f"{result.texts_scanned} texts ({result.unique_texts} distinct)"
    )
    out.append(
        f"- model: {result.nlp_model} ({'names detected' if result.names_detected else 'NO name detection'}),"
        f" language {result.language}"
    )
    out.append(f"- found: {result.found_total} in {result.lines_with_findings} lines")
    if result.redaction:
        r = result.redaction
        out.append(
            f"- redacted copy: {r.path} (mode {r.mode}): {r.replaced} replacements in {r.lines_changed} "
            f"lines; re-scan found {r.rescan_found}"
        )
    out.append("")
    for w in result.warnings:
        out.append(f"> **warning:** {w}")
    if result.template_findings:
        out += [
            "",
            "Not counted (names/places in a system prompt shared by many examples; check they are "
            "brand or product names):",
        ]
        out += [f"- {t.entity} `{t.sample}` in {t.lines} lines" for t in result.template_findings]
    if result.entities:
        out += ["", "| entity | kind | found | lines | by role |", "|---|---|---:|---:|---|"]
        for e in result.entities:
            roles = ", ".join(f"{r.role} {r.count}" for r in e.by_role)
            out.append(f"| {e.entity} | {e.kind} | {e.count} | {e.lines} | {roles} |")
    if findings:
        out += [
            "",
            "## Findings (samples masked)",
            "",
            "| line | role | entity | score | sample |",
            "|---:|---|---|---:|---|",
        ]
        for f in findings[:200]:
            out.append(f"| {f['line']} | {f['role']} | {f['entity']} | {f['score']} | `{f['sample']}` |")
        if len(findings) > 200:
            out.append(f"\n... {len(findings) - 200} more in the JSON report")
    out += [
        "",
        "Detection is statistical: a clean scan lowers the risk of training on personal data; it does "
        "not prove there is none.",
        "",
    ]
    return "\n".join(out)
