"""validate_jsonl: per-line format rules, dataset findings and token statistics for training files.

The tool is split in three: this module (arguments, results, the orchestration), the streaming pass
(tools/validate/scan.py) and the dataset-level checks and reports (tools/validate/dataset_findings.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tools.core import progress
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import current
from tools.data.formats import detect_file, facts
from tools.data.tokens import counter_for
from tools.validate.models import (
    ValidateRequest,
    ValidateResult,
)


@tool(effect="write", stage="data")
def validate_jsonl(req: ValidateRequest) -> ValidateResult:
    """Check fine-tuning JSONL files before training: every format rule of the target with line numbers,
    exact and near duplicates, contradictory answers, refusals, inconsistent system prompts, length
    outliers, leakage between train/validation/test files, token statistics per example, and the content
    that would ruin a fine-tune (invisible characters, mojibake, contact details in answers, filler prompts,
    stock openings, one answer for many prompts, label imbalance, repetition loops, cut answers, mixed
    scripts, files too small for the target).

    Use it on any dataset before converting, splitting or training, and again after editing it. It
    reads OpenAI chat/DPO, Bedrock Nova/Claude Haiku, Vertex Gemini, prompt/completion, text, TRL
    preference, Alpaca and ShareGPT lines (detected per file). ``model`` decides the rules: an OpenAI id
    means OpenAI's, an open-weight model (Hugging Face id or local folder) means TRL's, counted with its own
    tokenizer when it is on disk. It does not fix the data (use prepare_data) or fully scan for personal data
    (use scan_pii). Returns the top findings inline and the path of the full JSON and markdown report."""
    from tools.data.format_rules import check_line
    from tools.data.jsonl import sniff
    from tools.validate.columns import Columns, column_dtype
    from tools.validate.content_facts import content_facts
    from tools.validate.dataset_findings import dataset_findings
    from tools.validate.report import finish_findings, token_stats
    from tools.validate.scan import FileState, ScanContext, ScanRun

    ws = current()
    F = facts()
    q = F.quality
    if not req.paths:
        raise ToolError("no_input", "no files given", "pass one or more JSONL files")
    paths = [ws.input_file(p) for p in req.paths]
    rules, folder = _model_rules(req.model, F, ws)
    forced_target = F.target(req.target) if req.target else rules.target if rules else None
    files: list[FileState] = []
    for i, path in enumerate(paths):
        shown = ws.relative(path)
        sniff(path, shown)
        fmt = req.format or detect_file(path)
        renames = None
        if fmt is None:
            from tools.validate.keys import guess_renames

            guess = guess_renames(path)
            if guess is not None:
                fmt, renames = guess
        target = forced_target or F.default_target(fmt or "openai_chat")
        files.append(FileState(i, path, shown, fmt, target, renames=renames))
    notes = list(rules.notes) if rules else []
    if rules is not None:
        counter, limit = rules.counter, rules.limit
    else:
        model = req.model or files[0].target.default_model
        counter = counter_for(model)
        model_row = F.model(model)
        limit = model_row.max_tokens_per_example if model_row else files[0].target.max_tokens_per_example
    if rules is not None and rules.open_weight:
        from tools.validate.template_check import template_preflight

        progress.report(0, 1, f"rendering the examples with {req.model}'s chat template")
        notes += template_preflight(str(folder or req.model), ws.root, paths, [fs.shown for fs in files])
    import re

    # matched against lower-cased text: an IGNORECASE alternation is ~15x slower in CPython's re
    refusal_phrases = re.compile("|".join(re.escape(p.lower()) for p in F.refusals.phrases))
    hasher = None
    if req.near_duplicates:
        from tools.data.neardup import MinHasher

        hasher = MinHasher(q.minhash_bands, q.minhash_rows, q.shingle_chars)
    dtype = column_dtype(q.minhash_bands)

    ctx = ScanContext(req, F, counter, limit, hasher, dtype, refusal_phrases, check_line, content_facts())
    ctx.overhead = all(fs.target.id != "trl" for fs in files)
    if not ctx.overhead:
        notes.append("tokens are the texts' own; the chat template's tokens are not counted (TRL target)")
    state_dir = ws.state_dir / "tmp"
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx.tmp = state_dir
    spool_fd, spool_name = tempfile.mkstemp(prefix="findings.", suffix=".jsonl", dir=state_dir)
    columns = Columns(state_dir, dtype)
    try:
        with os.fdopen(spool_fd, "w", encoding="utf-8") as spool:
            run = ScanRun(req, spool)
            _scan_files(ctx, run, files, columns, F)
        progress.report(1, 1, "dataset checks: duplicates, near-duplicates, leakage, content")
        dataset = dataset_findings(run, files, columns, F, limit, hasher is not None, ctx.content)
        tokens = token_stats(columns, counter, limit)
        return finish_findings(run, files, dataset, tokens, spool_name, req, ws, notes)
    finally:
        columns.remove()
        try:
            os.unlink(spool_name)
        except OSError:
            pass


def _model_rules(model: str | None, F: Any, ws: Any) -> tuple[Any, Path | None]:
    """The rules ``model`` decides, and its local folder when it names one inside the workspace."""
    from tools.validate.model_rules import rules_for

    if not model:
        return None, None
    folder = None
    candidate = Path(model)
    if not candidate.is_absolute() and not model.startswith(("ft:", "http:", "https:")):
        local = ws.root / candidate
        if local.is_dir():
            folder = ws.input_dir(model, what="model folder")
    elif candidate.is_absolute() and candidate.is_dir():
        folder = ws.input_dir(model, what="model folder")
    return rules_for(model, F, folder), folder


def _scan_files(ctx: Any, run: Any, files: list[Any], columns: Any, F: Any) -> None:
    """The streaming pass over every file, with the per-file findings (size, format, example counts)."""
    from tools.validate.parts import scan_file

    total = sum(fs.path.stat().st_size for fs in files) or 1
    before = 0
    for fs in files:
        size = fs.path.stat().st_size
        progress.report(before, total, f"scanning {fs.shown}")
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
        elif fs.renames:
            pairs = ", ".join(f"{k} -> {v}" for k, v in fs.renames.items())
            mapping = ",".join(f"{v}={k}" for k, v in fs.renames.items())
            run.add(
                fs,
                "nonstandard_keys",
                "error",
                f"the keys of {fs.shown} name no format a trainer reads; read as {fs.fmt} with {pairs} for the "
                f"checks below. Rename them: finetune prepare {fs.shown} --out fixed.jsonl --map {mapping}",
                None,
            )
        parsed_any = scan_file(ctx, run, fs, columns, (before, total))
        before += size
        if fs.lines and not parsed_any:
            run.add(fs, "not_jsonl", "error", f"no line of {fs.shown} is valid JSON; this is not a JSONL file", None)
        _example_counts(run, fs, F)


def _example_counts(run: Any, fs: Any, F: Any) -> None:
    t = fs.target
    if not fs.lines:
        return
    if fs.examples < t.min_examples:
        run.add(
            fs,
            "too_few_examples",
            "error",
            f"{fs.examples} usable examples; {t.id} needs at least {t.min_examples}",
            None,
        )
    else:
        rec = F.recommended(t.id)
        if rec is not None and fs.examples < rec.min_examples:
            run.add(
                fs,
                "small_dataset",
                "warning",
                f"{fs.examples} usable examples; for {t.id} start with at least {rec.min_examples} "
                f"({rec.note}); add examples before spending on training",
                None,
            )
    if t.max_examples and fs.examples > t.max_examples:
        run.add(
            fs, "too_many_examples", "error", f"{fs.examples} examples; {t.id} accepts at most {t.max_examples:,}", None
        )
