"""validate_jsonl: per-line format rules, dataset findings and token statistics for training files.

The tool is split in three: this module (arguments, results, the orchestration), the streaming pass
(tools/validate/scan.py) and the dataset-level checks and reports (tools/validate/dataset_findings.py).
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal

from pydantic import BaseModel, Field

from tools.core import progress
from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath
from tools.data.formats import FORMATS, FormatName, detect_file, facts
from tools.core.registry import tool
from tools.core.workspace import current

Severity = Literal["error", "warning", "info"]


class ValidateRequest(BaseModel):
    paths: list[InputPath] = Field(description="JSONL files to check. Give train, validation and test files "
                                               "together to also check leakage between them.")
    format: FormatName | None = Field(None, description="Force a format instead of detecting it: "
                                      + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()))
    target: str | None = Field(None, description="Training target whose rules apply: openai, together, mistral, "
                                                 "bedrock-nova, bedrock-haiku, vertex-gemini, trl. Default: by format.")
    model: str | None = Field(None, description="Model id for token counting and the per-example limit "
                                                "(e.g. gpt-4.1-mini-2025-04-14, ft:..., or a local HF tokenizer).")
    near_duplicates: bool = Field(True, description="Look for near-duplicates (MinHash LSH) and near leakage.")
    report: OutputPath | None = Field(None, description="Where to write the full JSON report (a .md beside it). "
                                                        "Default: .finetune/reports/<first file>.validation.json")
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


# ---------------------------------------------------------------- per-example state


@tool(effect="read")
def validate_jsonl(req: ValidateRequest) -> ValidateResult:
    """Check fine-tuning JSONL files before training: every format rule of the target with line numbers,
    exact and near duplicates, contradictory answers, refusals, inconsistent system prompts, length
    outliers, leakage between train/validation/test files, and token statistics per example.

    Use it on any dataset before converting, splitting or training, and again after editing it. It
    reads OpenAI chat/DPO, Bedrock Nova/Claude Haiku, Vertex Gemini, prompt/completion, text, TRL
    preference, Alpaca and ShareGPT lines (detected per file). It does not fix the data (use
    prepare_data) or look for personal data (use scan_pii). Returns the top findings inline and the
    path of the full JSON and markdown report."""
    from tools.validate.dataset_findings import _dataset_findings, _finish, _token_stats
    from tools.data.format_rules import check_line
    from tools.data.jsonl import sniff
    from tools.data.tokens import counter_for
    from tools.validate.scan import _Columns, _Ctx, _dtype, _FileState, _Run, _scan_file

    ws = current()
    F = facts()
    q = F.quality
    if not req.paths:
        raise ToolError("no_input", "no files given", "pass one or more JSONL files")
    paths = [ws.input_file(p) for p in req.paths]
    forced_target = F.target(req.target) if req.target else None
    files: list[_FileState] = []
    for i, path in enumerate(paths):
        shown = ws.relative(path)
        sniff(path, shown)
        fmt = req.format or detect_file(path)
        target = forced_target or F.default_target(fmt or "openai_chat")
        files.append(_FileState(i, path, shown, fmt, target))
    model = req.model or files[0].target.default_model
    counter = counter_for(model)
    model_row = F.model(model)
    limit = model_row.max_tokens_per_example if model_row else files[0].target.max_tokens_per_example
    import re

    # matched against lower-cased text: an IGNORECASE alternation is ~15x slower in CPython's re
    refusal_phrases = re.compile("|".join(re.escape(p.lower()) for p in F.refusals.phrases))
    hasher = None
    if req.near_duplicates:
        from tools.data.neardup import MinHasher

        hasher = MinHasher(q.minhash_bands, q.minhash_rows, q.shingle_chars)
    dtype = _dtype(q.minhash_bands)

    ctx = _Ctx(req, F, counter, limit, hasher, dtype, refusal_phrases, check_line)
    state_dir = ws.state_dir / "tmp"
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx.tmp = state_dir
    spool_fd, spool_name = tempfile.mkstemp(prefix="findings.", suffix=".jsonl", dir=state_dir)
    columns = _Columns(state_dir, dtype)
    try:
        with os.fdopen(spool_fd, "w", encoding="utf-8") as spool:
            run = _Run(req, spool)
            for fs in files:
                progress.report(fs.index, len(files) + 1, f"scanning {fs.shown}")
                size = fs.path.stat().st_size
                if size == 0:
                    run.add(fs, "empty_file", "error", f"{fs.shown} is empty", None)
                    continue
                if fs.target.max_file_bytes and size > fs.target.max_file_bytes:
                    run.add(fs, "file_too_large", "error",
                            f"{fs.shown} is {size:,} bytes; {fs.target.id} accepts at most "
                            f"{fs.target.max_file_bytes:,}", None)
                if fs.fmt is None:
                    run.add(fs, "unknown_format", "error",
                            f"no supported format matches the lines of {fs.shown}", None)
                parsed_any = _scan_file(ctx, run, fs, columns)
                if fs.lines and not parsed_any:
                    run.add(fs, "not_jsonl", "error",
                            f"no line of {fs.shown} is valid JSON; this is not a JSONL file", None)
                t = fs.target
                if fs.examples < t.min_examples and fs.lines:
                    run.add(fs, "too_few_examples", "error",
                            f"{fs.examples} usable examples; {t.id} needs at least {t.min_examples}", None)
                if t.max_examples and fs.examples > t.max_examples:
                    run.add(fs, "too_many_examples", "error",
                            f"{fs.examples} examples; {t.id} accepts at most {t.max_examples:,}", None)
        progress.report(len(files), len(files) + 1, "dataset checks: duplicates, near-duplicates, leakage")
        dataset = _dataset_findings(run, files, columns, F, limit, hasher is not None)
        tokens = _token_stats(columns, counter, limit)
        return _finish(run, files, dataset, tokens, spool_name, req, ws)
    finally:
        columns.remove()
        try:
            os.unlink(spool_name)
        except OSError:
            pass
