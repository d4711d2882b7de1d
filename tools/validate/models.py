"""The request and result models of validate_jsonl."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Findings, Table, Text
from tools.core.document import Finding as DocFinding
from tools.core.fields import InputPath, OutputPath
from tools.data.formats import FORMATS, FormatName

Severity = Literal["error", "warning", "info"]


class ValidateRequest(BaseModel):
    paths: list[InputPath] = Field(
        description="JSONL files to check. Give train, validation and test files "
        "together to also check leakage between them."
    )
    format: FormatName | None = Field(
        None,
        description="Force a format instead of detecting it: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()),
    )
    target: str | None = Field(
        None,
        description="Training target whose rules apply: openai, together, mistral, "
        "bedrock-nova, bedrock-haiku, vertex-gemini, trl. Default: by format.",
    )
    model: str | None = Field(
        None,
        description="The model to train; it decides the rules: an OpenAI id (gpt-4.1-mini-2025-04-14, ft:...) "
        "means OpenAI's target and tokenizer; an open-weight model (a Hugging Face id such as "
        "Qwen/Qwen2.5-7B-Instruct, or a local model folder) means TRL's rules, counted with its own tokenizer "
        "when it is on disk, else a labelled approximation.",
    )
    near_duplicates: bool = Field(True, description="Look for near-duplicates (MinHash LSH) and near leakage.")
    report: OutputPath | None = Field(
        None,
        description="Where to write the full JSON report (a .md beside it). "
        "Default: .finetune/reports/<first file>.validation.json",
    )
    max_findings: int = Field(20, ge=1, le=200, description="How many findings to return inline.")


class Finding(BaseModel):
    code: str
    severity: Severity
    file: str
    line: int | None = None
    message: str
    lines: list[int] | None = None


class CodeCount(BaseModel):
    code: str
    severity: Severity
    count: int


class Distribution(BaseModel):
    min: int
    median: float
    p95: float
    max: int
    mean: float


class TokenStats(BaseModel):
    method: str
    approximate: bool
    examples: int
    total: Distribution
    assistant: Distribution
    billed: Distribution
    billed_sum: int
    assistant_share: float
    limit: int | None
    over_limit: int


class FileSummary(BaseModel):
    path: str
    format: str | None
    target: str
    lines: int
    examples: int
    errors: int
    warnings: int


def files_table(files: list[FileSummary]) -> Table:
    rows: list[list[Cell]] = [
        [f.path, f.format or "unknown", f.target, f.lines, f.examples, f.errors, f.warnings] for f in files
    ]
    return Table(headers=["file", "format", "target", "lines", "examples", "errors", "warnings"], rows=rows)


def token_blocks(t: TokenStats) -> list[Block]:
    approx = ", approximate: not the model's own tokenizer" if t.approximate else ""
    rows: list[list[Cell]] = []
    for name in ("total", "assistant", "billed"):
        d: Distribution = getattr(t, name)
        rows.append([name, d.min, d.median, d.p95, d.max])
    limit = f"; {t.over_limit} over the {t.limit:,}-token limit" if t.limit else ""
    return [
        Table(title=f"Tokens per example ({t.method}{approx})", headers=["", "min", "median", "p95", "max"], rows=rows),
        Text(text=f"Billed tokens per epoch: {t.billed_sum:,}; assistant share {t.assistant_share:.1%}{limit}."),
    ]


def counts_table(counts: list[CodeCount]) -> Table:
    return Table(
        title="Findings by code",
        headers=["code", "severity", "count"],
        rows=[[c.code, c.severity, c.count] for c in counts],
    )


def finding_items(findings: list[Finding]) -> list[DocFinding]:
    return [
        DocFinding(
            severity=f.severity,
            code=f.code,
            message=f.message,
            where=f"{f.file}:{f.line}" if f.line and not f.lines else f.file,
        )
        for f in findings
    ]


class ValidateResult(BaseModel):
    ok: bool
    files: list[FileSummary]
    counts: list[CodeCount]
    findings: list[Finding]
    findings_total: int
    tokens: TokenStats | None
    report_json: str
    report_markdown: str
    notes: list[str] = Field(default_factory=list, description="What decided the rules and how tokens were counted.")

    def headline(self) -> str:
        errors = sum(c.count for c in self.counts if c.severity == "error")
        warnings = sum(c.count for c in self.counts if c.severity == "warning")
        examples = sum(f.examples for f in self.files)
        files = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        found = f"{errors:,} errors, {warnings:,} warnings ({self.findings_total:,} findings)"
        return f"{found} in {examples:,} examples of {files}"

    def document(self) -> Document:
        blocks: list[Block] = [files_table(self.files)]
        if self.tokens is not None:
            blocks += token_blocks(self.tokens)
        if self.counts:
            blocks.append(counts_table(self.counts))
        if self.findings:
            title = f"Top findings ({len(self.findings)} of {self.findings_total})"
            blocks.append(Findings(title=title, items=finding_items(self.findings), total=self.findings_total))
        if self.notes:
            blocks.append(Bullets(title="Notes", items=self.notes))
        return Document(
            title="Dataset validation",
            status="ok" if self.ok else "problems",
            headline=self.headline(),
            blocks=blocks,
            files=[self.report_markdown, self.report_json],
        )

    def report_document(self, dataset: list[Finding], lines: list[Finding], more_lines: bool) -> Document:
        """The markdown report: every dataset finding and the line findings (the first ones when ``more_lines``)."""
        blocks: list[Block] = [Bullets(title="How the rules were chosen", items=self.notes)] if self.notes else []
        blocks.append(files_table(self.files))
        if self.tokens is not None:
            blocks += token_blocks(self.tokens)
        blocks.append(counts_table(self.counts))
        if dataset:
            blocks.append(Findings(title="Dataset findings", items=finding_items(dataset)))
        blocks.append(Findings(title="Line findings", items=finding_items(lines)))
        if more_lines:
            blocks.append(Text(text=f"The rest of the line findings are in {self.report_json}."))
        return Document(
            title="Dataset validation report",
            status="ok" if self.ok else "problems",
            headline=self.headline(),
            blocks=blocks,
        )


# ---------------------------------------------------------------- per-example state
