"""Request and result models of ``scan_pii``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Pairs, Severity, Table, Text
from tools.core.fields import InputPath, OutputPath
from tools.pii.redact import RedactMode

REPORT_FINDINGS = 200
"""Findings the markdown report lists (the JSON report has every one)."""


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
    workers: int | None = Field(
        None, ge=1, le=256, description="processes to scan with (default: every core for large files, else 1)"
    )
    report: OutputPath | None = Field(
        None,
        description="where to write the full JSON report (a .md beside it); default .finetune/reports/<file>.pii.json",
    )
    max_findings: int = Field(20, ge=0, le=500, description="findings (and review samples) to return inline")


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
    role: str = Field(description="the message role, the top-level field (metadata...), 'key' or 'unparsed'")
    entity: str
    score: float
    sample: str = Field(description="masked: first character (or a secret's vendor prefix) and length only")


class TemplateFinding(BaseModel):
    entity: str
    sample: str
    lines: int = Field(description="examples whose system prompt holds it")


class LineProblem(BaseModel):
    line: int
    kind: str = Field(description="unread (not UTF-8, over the size limit), unparsed (scanned as text), budget")
    message: str


class ReviewSample(BaseModel):
    """One replacement in the redacted copy, as it reads there (never the original value)."""

    line: int
    where: str = Field(description="JSON path of the string in the redacted line; '(raw line)' for unparsed lines")
    start: int = Field(description="offset of the replacement in that string")
    end: int
    entity: str
    second_look: bool = Field(description="found by the second look (a known value or a word of a name), not by NER")
    text: str = Field(description="the redacted string around the replacement")


class RedactionSummary(BaseModel):
    path: str
    mode: str
    known_values: int = Field(description="distinct detected values (and words of names) searched for everywhere")
    replaced: int
    lines_changed: int
    second_look_lines: int = Field(description="lines changed where the scan itself had detected nothing")
    lines_left_out: list[int] = Field(description="lines not written: not read or not fully scanned (first 20)")
    left_out_total: int
    rescan_found: int = Field(description="detections in the redacted copy, other than the replacements")
    rescan_entities: list[str]
    rescan_unchecked: int = Field(description="redacted lines the re-scan could not finish (CPU budget)")
    detector: str = Field(description="what scanned: Presidio, the spaCy model and its version")
    recall: float | None = Field(description="the detector's measured recall on the benchmark, when measured")
    recall_benchmark: str | None
    statement: str = Field(description="what the re-scan shows, in words; never more than was measured")
    review: list[ReviewSample]


class ScanPiiResult(BaseModel):
    path: str
    sha256: str = Field(description="SHA-256 of the dataset's bytes when scanned")
    format: str | None
    lines: int
    examples: int
    texts_scanned: int = Field(description="strings, keys and long numbers analysed")
    unique_texts: int
    language: str
    nlp_model: str
    detector: str
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
    line_problems: list[LineProblem] = Field(description="lines not read, not parsed or not fully scanned (first 20)")
    line_problems_total: int
    unreadable_lines: list[int] = Field(description="lines not read or not fully scanned (first 20)")
    unreadable_total: int
    non_latin_texts: int
    workers: int
    warnings: list[str]
    redaction: RedactionSummary | None
    report_json: str
    report_markdown: str
    seconds: float
    cpu_seconds: float = Field(description="CPU time of this process and of every worker it used")
    ok: bool = Field(
        description="true when nothing was detected and every line was scanned, or a redacted copy was written "
        "and its re-scan detected nothing; detection is statistical (see redaction.recall)"
    )

    def _scan_pairs(self) -> Pairs:
        names = "names detected" if self.names_detected else "NO name detection"
        return Pairs(
            title="Scan",
            items=[
                ("format", self.format or "unknown"),
                ("lines", self.lines),
                ("examples", self.examples),
                ("strings, keys and numbers", f"{self.texts_scanned:,} ({self.unique_texts:,} distinct)"),
                ("detector", f"{self.detector} ({names}), language {self.language}"),
                ("time", f"{self.seconds:.1f} s on {self.workers} worker{'s' if self.workers != 1 else ''}"),
            ],
        )

    def _found_blocks(self, findings: list[PiiFinding], shown_of: int) -> list[Block]:
        if not self.found_total:
            return [
                Text(
                    text=f"No detections by {self.detector}: detection is statistical, so this lowers the risk; "
                    "it does not prove absence."
                )
            ]
        entities: list[list[Cell]] = [
            [e.entity, e.kind, e.count, e.lines, ", ".join(f"{r.role} {r.count}" for r in e.by_role)]
            for e in self.entities
        ]
        rows: list[list[Cell]] = [[f.line, f.role, f.entity, f"{f.score:.2f}", f.sample] for f in findings]
        more = f", first {len(findings)} of {shown_of:,}" if shown_of > len(findings) else ""
        return [
            Table(
                title=f"{self.found_total:,} findings in {self.lines_with_findings:,} lines",
                headers=["entity", "kind", "found", "lines", "by role"],
                rows=entities,
            ),
            Table(
                title=f"Findings (samples masked{more})",
                headers=["line", "role", "entity", "score", "sample"],
                rows=rows,
            ),
        ]

    def _other_blocks(self) -> list[Block]:
        blocks: list[Block] = []
        if self.template_findings:
            blocks.append(
                Bullets(
                    title="Not counted: in a system prompt shared by many examples (brand or product names?)",
                    items=[f"{t.entity} {t.sample} in {t.lines:,} lines" for t in self.template_findings],
                )
            )
        if self.line_problems:
            listed = (
                f"; the first {len(self.line_problems)} listed"
                if self.line_problems_total > len(self.line_problems)
                else ""
            )
            blocks.append(
                Findings(
                    title=f"Lines not read, not parsed or not fully scanned ({self.line_problems_total:,}{listed})",
                    items=[
                        Finding(severity="warning", where=f"line {p.line}", code=p.kind, message=p.message)
                        for p in self.line_problems
                    ],
                )
            )
        return blocks

    def _redaction_blocks(self, review: list[ReviewSample]) -> list[Block]:
        r = self.redaction
        if r is None:
            return []
        blocks: list[Block] = [
            Pairs(
                title="Redacted copy",
                items=[
                    ("file", r.path),
                    ("mode", r.mode),
                    ("known values searched for everywhere", r.known_values),
                    ("replacements", r.replaced),
                    ("lines changed", r.lines_changed),
                    ("lines changed only by the second look", r.second_look_lines),
                    ("lines left out (not read or not fully scanned)", r.left_out_total),
                ],
            )
        ]
        if review:
            blocks.append(
                Bullets(
                    title="Review: replacements as they read in the redacted copy",
                    items=[
                        f"line {s.line} {s.where} [{s.start}:{s.end}] {s.entity} "
                        f"({'second look' if s.second_look else 'scan'}): {s.text!r}"
                        for s in review
                    ],
                )
            )
        severity: Severity = "warning" if r.rescan_found or r.rescan_unchecked or r.left_out_total else "info"
        blocks.append(
            Findings(title="Re-scan of the redacted copy", items=[Finding(severity=severity, message=r.statement)])
        )
        return blocks

    def _headline(self) -> str:
        found = f"{self.found_total:,} findings in {self.lines_with_findings:,} of {self.lines:,} lines"
        r = self.redaction
        if r is None:
            return found + "; no redacted copy"
        return found + f"; redacted copy written, its re-scan: {r.rescan_found} detections"

    def _document(self, title: str, findings: list[PiiFinding], shown_of: int, review: list[ReviewSample]) -> Document:
        blocks: list[Block] = []
        if self.warnings:
            blocks.append(Findings(items=[Finding(severity="warning", message=w) for w in self.warnings]))
        blocks += [self._scan_pairs(), *self._found_blocks(findings, shown_of), *self._other_blocks()]
        blocks += self._redaction_blocks(review)
        files = [self.report_markdown, self.report_json] + ([self.redaction.path] if self.redaction else [])
        return Document(
            title=title, status="ok" if self.ok else "problems", headline=self._headline(), blocks=blocks, files=files
        )

    def document(self) -> Document:
        review = self.redaction.review if self.redaction else []
        return self._document("Personal data and secrets", self.findings, self.found_total, review)

    def report_document(self, findings: list[PiiFinding], review: list[ReviewSample]) -> Document:
        """The markdown report: up to REPORT_FINDINGS findings, every review sample, and what detection can say."""
        doc = self._document(f"PII and secrets scan: {self.path}", findings[:REPORT_FINDINGS], len(findings), review)
        doc.blocks.append(
            Text(
                text="Detection is statistical: no detection lowers the risk of training on personal "
                "data; it does not prove there is none."
            )
        )
        return doc
