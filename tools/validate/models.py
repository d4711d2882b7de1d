"""The request and result models of validate_jsonl."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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


# ---------------------------------------------------------------- per-example state
