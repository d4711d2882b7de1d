"""validate_jsonl: per-line format rules, dataset findings and token statistics for training files.

The tool is split in three: this module (arguments, results, the orchestration), the streaming pass
(tools/validate/scan.py) and the dataset-level checks and reports (tools/validate/dataset_findings.py).
"""

from __future__ import annotations

import os
import tempfile

from tools.core import progress
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import current
from tools.data.formats import detect_file, facts
from tools.validate.models import (
    ValidateRequest,
    ValidateResult,
)


@tool(effect="write", stage="data")
def validate_jsonl(req: ValidateRequest) -> ValidateResult:
    """Check fine-tuning JSONL files before training: every format rule of the target with line numbers,
    exact and near duplicates, contradictory answers, refusals, inconsistent system prompts, length
    outliers, leakage between train/validation/test files, and token statistics per example.

    Use it on any dataset before converting, splitting or training, and again after editing it. It
    reads OpenAI chat/DPO, Bedrock Nova/Claude Haiku, Vertex Gemini, prompt/completion, text, TRL
    preference, Alpaca and ShareGPT lines (detected per file). It does not fix the data (use
    prepare_data) or look for personal data (use scan_pii). Returns the top findings inline and the
    path of the full JSON and markdown report."""
    from tools.data.format_rules import check_line
    from tools.data.jsonl import sniff
    from tools.data.tokens import counter_for
    from tools.validate.dataset_findings import dataset_findings, finish_findings, token_stats
    from tools.validate.scan import Columns, FileState, ScanContext, ScanRun, column_dtype, scan_file

    ws = current()
    F = facts()
    q = F.quality
    if not req.paths:
        raise ToolError("no_input", "no files given", "pass one or more JSONL files")
    paths = [ws.input_file(p) for p in req.paths]
    forced_target = F.target(req.target) if req.target else None
    files: list[FileState] = []
    for i, path in enumerate(paths):
        shown = ws.relative(path)
        sniff(path, shown)
        fmt = req.format or detect_file(path)
        target = forced_target or F.default_target(fmt or "openai_chat")
        files.append(FileState(i, path, shown, fmt, target))
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
    dtype = column_dtype(q.minhash_bands)

    ctx = ScanContext(req, F, counter, limit, hasher, dtype, refusal_phrases, check_line)
    state_dir = ws.state_dir / "tmp"
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx.tmp = state_dir
    spool_fd, spool_name = tempfile.mkstemp(prefix="findings.", suffix=".jsonl", dir=state_dir)
    columns = Columns(state_dir, dtype)
    try:
        with os.fdopen(spool_fd, "w", encoding="utf-8") as spool:
            run = ScanRun(req, spool)
            for fs in files:
                progress.report(fs.index, len(files) + 1, f"scanning {fs.shown}")
                size = fs.path.stat().st_size
                if size == 0:
                    run.add(fs, "empty_file", "error", f"{fs.shown} is empty", None)
                    continue
                if fs.target.max_file_bytes and size > fs.target.max_file_bytes:
                    run.add(
                        fs,
                        "file_too_large",
                        "error",
                        f"{fs.shown} is {size:,} bytes; {fs.target.id} accepts at most {fs.target.max_file_bytes:,}",
                        None,
                    )
                if fs.fmt is None:
                    run.add(fs, "unknown_format", "error", f"no supported format matches the lines of {fs.shown}", None)
                parsed_any = scan_file(ctx, run, fs, columns)
                if fs.lines and not parsed_any:
                    run.add(
                        fs, "not_jsonl", "error", f"no line of {fs.shown} is valid JSON; this is not a JSONL file", None
                    )
                t = fs.target
                if fs.examples < t.min_examples and fs.lines:
                    run.add(
                        fs,
                        "too_few_examples",
                        "error",
                        f"{fs.examples} usable examples; {t.id} needs at least {t.min_examples}",
                        None,
                    )
                if t.max_examples and fs.examples > t.max_examples:
                    run.add(
                        fs,
                        "too_many_examples",
                        "error",
                        f"{fs.examples} examples; {t.id} accepts at most {t.max_examples:,}",
                        None,
                    )
        progress.report(len(files), len(files) + 1, "dataset checks: duplicates, near-duplicates, leakage")
        dataset = dataset_findings(run, files, columns, F, limit, hasher is not None)
        tokens = token_stats(columns, counter, limit)
        return finish_findings(run, files, dataset, tokens, spool_name, req, ws)
    finally:
        columns.remove()
        try:
            os.unlink(spool_name)
        except OSError:
            pass
