"""Request and result models of ``scan_pii``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.core.fields import InputPath, OutputPath
from tools.pii.redact import RedactMode


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
