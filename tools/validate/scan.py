"""The streaming pass of validate_jsonl: per-line checks, token counts and per-example records.

Each example leaves a fixed-size record (line, offset, content hashes, token counts, MinHash band
keys) in :class:`~tools.validate.columns.Columns`, one file per column under ``.finetune/tmp``, so memory stays flat as
the file grows; the dataset-level checks (tools/validate/dataset_findings.py) read one column at a time.
A large file is cut at line boundaries into one part per core (tools/validate/parts.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.data.formats import Conversation, TargetFact, detect, normalise
from tools.validate.models import Finding, ValidateRequest
from tools.validate.plain_chat import read_plain_chat

_BATCH = 2000
LINES_KEPT = 50


def text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little") or 1


def _fold(s: str) -> str:
    return " ".join(s.split())


def conversation_key(msgs: list[Any]) -> str:
    return "\x1e".join(
        f"{m.role}\x1f{m.content.strip()}\x1f"
        + ("|".join(f"{c.name}:{c.arguments}" for c in m.tool_calls) if m.tool_calls else "")
        for m in msgs
    )


def dup_text(conv: Conversation) -> str:
    """The text near-duplicate detection compares: user and assistant turns, system prompt left out; lower case,
    whitespace folded."""
    from tools.data.neardup import normalise_text

    if conv.text is not None:
        return normalise_text(conv.text)
    return normalise_text(" \n ".join([m.content for m in conv.messages if m.role == "user" or m.role == "assistant"]))


@dataclass
class FileState:
    index: int
    path: Path
    shown: str
    fmt: str | None
    target: TargetFact
    lines: int = 0
    examples: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    renames: dict[str, str] | None = None  # nonstandard keys read under their standard names (tools/validate/keys.py)


@dataclass
class ScanRun:
    req: ValidateRequest
    spool: Any  # text file of per-line findings (JSON lines)
    kept: list[Finding] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    records: list[Any] = field(default_factory=list)  # numpy record batches
    systems: dict[int, list[Any]] = field(default_factory=dict)
    no_system: list[Any] = field(default_factory=lambda: [0, []])
    refusals: list[tuple[str, int]] = field(default_factory=list)
    refusal_count: int = 0
    assistant_turns: int = 0
    short: list[tuple[str, int]] = field(default_factory=list)
    short_count: int = 0
    groups: dict[str, list[list[Any]]] = field(default_factory=dict)
    content: Any = None  # the ContentScan of this process (tools/validate/content.py)

    def keep_groups(self, code: str, groups: list[Any], recs: Any, files: list[FileState]) -> None:
        """Line groups for the report file (not the inline output); file:line when several files."""
        multi = len(files) > 1
        self.groups[code] = [
            [f"{f}:{n}" if multi else n for f, n in lines_of(recs, g, files)] for g in groups[:100_000]
        ]

    def add(self, fs: FileState, code: str, severity: str, message: str, line: int | None) -> None:
        self.counts[(code, severity)] += 1
        fs.counts[(code, severity)] += 1
        self.spool.write(
            json.dumps({"code": code, "severity": severity, "file": fs.shown, "line": line, "message": message}) + "\n"
        )
        if len(self.kept) < 400 or severity == "error" and sum(f.severity == "error" for f in self.kept) < 200:
            self.kept.append(Finding(code=code, severity=severity, file=fs.shown, line=line, message=message))


@dataclass
class ScanContext:
    req: ValidateRequest
    F: Any
    counter: Any
    limit: int | None
    hasher: Any
    dtype: Any
    refusal_phrases: Any  # a compiled pattern of lower-case phrases
    check_line: Any
    content: Any = None  # ContentFacts: the content checks' thresholds
    tmp: Path | None = None
    overhead: bool = True  # add the chat format's per-message tokens (OpenAI's counting) to the billed count


def scan_range(
    ctx: ScanContext,
    run: ScanRun,
    fs: FileState,
    rec_out: Any,
    span: tuple[int, int | None, int],
    tick: Any = None,
) -> bool:
    """Check the lines in bytes ``span`` = (start, stop, number of the first line) of one file; append example
    records to rec_out; ``tick(bytes done)`` after each batch.

    The cyclic garbage collector is paused meanwhile: the scan makes millions of short-lived, acyclic objects
    (refcounting frees them) and the collector's passes over them cost about 3% of the time."""
    import gc

    from tools.validate.content import ContentScan

    if run.content is None:
        run.content = ContentScan(ctx.content)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan_lines(ctx, run, fs, rec_out, span, tick)
    finally:
        if was_enabled:
            gc.enable()


def _scan_lines(
    ctx: ScanContext, run: ScanRun, fs: FileState, rec_out: Any, span: tuple[int, int | None, int], tick: Any
) -> bool:
    from tools.data.jsonl import read_lines

    start, stop, first_number = span
    q = ctx.F.quality
    pending: list[tuple[int, int, Conversation]] = []
    parsed_any = False
    end = start

    def flush() -> None:
        rec_out.write(_flush(ctx, run, fs, pending))
        pending.clear()
        if tick is not None:
            tick(end - start)

    for line in read_lines(fs.path, max_bytes=q.max_line_bytes, start=start, stop=stop, first_number=first_number):
        fs.lines = line.number
        end = line.offset + line.size
        parsed, example = _read_line(ctx, run, fs, line)
        parsed_any = parsed_any or parsed
        if example is None:
            continue
        fs.examples += 1
        pending.append((line.number, line.offset, example))
        if len(pending) >= _BATCH:
            flush()
    if pending:
        flush()
    elif tick is not None:
        tick(end - start)
    return parsed_any


def _read_line(ctx: ScanContext, run: ScanRun, fs: FileState, line: Any) -> tuple[bool, Conversation | None]:
    """(whether the line parsed as JSON, its example when it is one); the line's format findings go to ``run``."""
    from tools.data.jsonl import parse

    if line.text is None:
        run.add(fs, line.problem or "unreadable_line", "error", line.detail, line.number)
        return False, None
    if line.problem == "bom":
        run.add(
            fs,
            "bom",
            "warning" if line.number == 1 else "error",
            line.detail + ("" if line.number == 1 else " in the middle of the file"),
            line.number,
        )
    if line.blank:
        run.add(fs, "blank_line", "warning", "blank line", line.number)
        return False, None
    obj, err = parse(line)
    if err is not None:
        if line.problem == "no_final_newline":
            run.add(
                fs,
                "truncated_line",
                "error",
                f"the last line is cut off ({err}); the file was probably truncated",
                line.number,
            )
        else:
            run.add(fs, "invalid_json", "error", err, line.number)
        return False, None
    if fs.fmt is None:
        return True, None
    if fs.renames and type(obj) is dict:
        obj = {fs.renames.get(k, k): v for k, v in obj.items()}
    reserved = ctx.F.nova_reserved.strings
    plain = read_plain_chat(obj, fs.target, reserved) if fs.fmt == "openai_chat" and type(obj) is dict else None
    if plain is not None:
        conv, issues = plain
    else:
        line_fmt = detect(obj) if isinstance(obj, dict) else None
        if isinstance(obj, dict) and line_fmt != fs.fmt and not ctx.req.format:
            run.add(
                fs,
                "format_mismatch",
                "error",
                f"this line is {line_fmt or 'no known format'}, the file is {fs.fmt}",
                line.number,
            )
            return True, None
        conv = normalise(obj, fs.fmt) if isinstance(obj, dict) else None
        issues = ctx.check_line(obj, fs.fmt, fs.target, conv, reserved)
    for code, sev, msg in issues:
        run.add(fs, code, sev, msg, line.number)
    if conv is None or any(sev == "error" and code in _NOT_AN_EXAMPLE for code, sev, _ in issues):
        return True, None
    return True, conv


_NOT_AN_EXAMPLE = ("missing_messages", "wrong_top_level_type")
_MASK = (1 << 64) - 1


def _msg_keys(msgs: list[Any]) -> tuple[Any, ...]:
    return tuple(
        [
            (m.role, m.content.strip(), tuple([(c.name, c.arguments) for c in m.tool_calls]) if m.tool_calls else None)
            for m in msgs
        ]
    )


def _run_hash(key: Any) -> int:
    """A 64-bit hash of ``key`` for grouping within one run (Python's own, so equal only within this process and
    its forks; nothing stores it)."""
    return hash(key) & _MASK or 1


def _tokens(ctx: ScanContext, run: ScanRun, fs: FileState, line_no: int, conv: Conversation) -> tuple[int, int, int]:
    """(total, assistant, billed) tokens of one example; refusal and very short answers are tallied on the way.

    Billed follows the OpenAI cookbook's num_tokens_from_messages: per message, its overhead plus the tokens of
    every value (the role's too), plus the name's overhead, plus the reply priming once."""
    count = ctx.counter.count  # cached: a repeated string (a shared system prompt, a role) is encoded once
    overhead = ctx.F.chat_overhead
    per_msg, per_name = overhead.tokens_per_message, overhead.tokens_per_name
    if not ctx.overhead:
        per_msg = per_name = 0
    total = asst = billed = 0
    if conv.text is not None:
        total = asst = billed = count(conv.text)
    for m in conv.messages:
        n = count(m.content)
        if m.tool_calls:
            for c in m.tool_calls:
                n += count(f"{c.name} {c.arguments}")
        total += n
        billed += n
        if ctx.overhead:
            billed += per_msg + count(m.role) + (per_name + count(m.name) if m.name else 0)
        if m.role == "assistant" and m.weight != 0:
            asst += n
            _answer_tally(ctx, run, fs, line_no, m, n)
    for m in conv.rejected or ():
        n = count(m.content)
        total += n
        billed += n + (per_msg + count(m.role) if ctx.overhead else 0)
    if conv.tools:
        n = count(json.dumps(conv.tools, sort_keys=True))
        total += n
        billed += n
    if conv.messages and ctx.overhead:
        billed += overhead.reply_priming
    return total, asst, billed


def _answer_tally(ctx: ScanContext, run: ScanRun, fs: FileState, line_no: int, m: Any, n: int) -> None:
    run.assistant_turns += 1
    if ctx.refusal_phrases.search(m.content.lower()):
        run.refusal_count += 1
        if len(run.refusals) < 1000:
            run.refusals.append((fs.shown, line_no))
    if 0 < n < ctx.F.quality.min_assistant_tokens and m.content.strip():
        run.short_count += 1
        if len(run.short) < 1000:
            run.short.append((fs.shown, line_no))


def _hashes(run: ScanRun, fs: FileState, line_no: int, conv: Conversation) -> tuple[int, int, int]:
    """(whole example, prompt, answer) hashes for duplicates and contradictions; the system prompt is tallied."""
    msgs = conv.messages
    if conv.text is not None:
        return _run_hash(("T", _fold(conv.text))), 0, 0
    keys = _msg_keys(msgs)
    full = _run_hash((keys, _msg_keys(conv.rejected) if conv.rejected else ()))
    if msgs and msgs[-1].role == "assistant" and (keys[-1][1] or msgs[-1].tool_calls):
        prompt, answer = _run_hash(keys[:-1]), _run_hash(keys[-1:])
    else:
        prompt = answer = 0
    system = conv.system
    if system is None:
        run.no_system[0] += 1
        if len(run.no_system[1]) < LINES_KEPT:
            run.no_system[1].append((fs.shown, line_no))
    else:
        sh = _run_hash(system)
        entry = run.systems.get(sh)
        if entry is None and len(run.systems) < 1000:
            entry = run.systems[sh] = [0, [], len(system)]
        if entry is not None:
            entry[0] += 1
            if len(entry[1]) < LINES_KEPT:
                entry[1].append((fs.shown, line_no))
    return full, prompt, answer


def _flush(ctx: ScanContext, run: ScanRun, fs: FileState, pending: list[tuple[int, int, Conversation]]) -> Any:
    """Token counts, hashes, band keys, per-example and content checks for a batch of examples."""
    import numpy as np

    rows: list[tuple[int, ...]] = []
    limit, content = ctx.limit, run.content
    for line_no, offset, conv in pending:
        total, asst, billed = _tokens(ctx, run, fs, line_no, conv)
        if limit and billed > limit:
            run.add(
                fs,
                "too_many_tokens",
                fs.target.over_limit,
                f"{billed:,} tokens; {fs.target.id} allows {limit:,} per example"
                + (" (the end is truncated, often losing the answer)" if fs.target.over_limit == "warning" else ""),
                line_no,
            )
        full, prompt, answer = _hashes(run, fs, line_no, conv)
        content.example(fs.shown, line_no, conv, lambda code, sev, msg, n=line_no: run.add(fs, code, sev, msg, n))
        rows.append((line_no, offset, full, prompt, answer, total, asst, billed))
    out = np.zeros(len(pending), dtype=ctx.dtype)
    out["file"] = fs.index
    if rows:
        columns = list(zip(*rows, strict=True))
        for k, name in enumerate(("line", "offset", "full", "prompt", "answer", "total", "asst", "billed")):
            out[name] = np.array(columns[k], dtype=ctx.dtype[name])
    if ctx.hasher is not None:
        out["bands"] = ctx.hasher.keys([dup_text(conv) for _, _, conv in pending])
    return out


def fmt_lines(pairs: list[tuple[str, int]], multi: bool, limit: int = 12) -> str:
    """Line numbers for a message: ``12, 40, 41 (+3 more)``, or ``file:line`` when several files are checked."""
    shown = [f"{f}:{n}" if multi else str(n) for f, n in pairs[:limit]]
    more = f" (+{len(pairs) - limit} more)" if len(pairs) > limit else ""
    return ", ".join(shown) + more


def lines_of(recs: Any, idx: Any, files: list[FileState]) -> list[tuple[str, int]]:
    return [(files[int(recs["file"][i])].shown, int(recs["line"][i])) for i in idx]
