"""The streaming pass of validate_jsonl: per-line checks, token counts and per-example records.

Each example leaves a fixed-size record (line, offset, content hashes, token counts, MinHash band
keys) in :class:`Columns`, one file per column under ``.finetune/tmp``, so memory stays flat as
the file grows; the dataset-level checks (tools/validate/dataset_findings.py) read one column at a time.
A large file is cut at line boundaries into one part per core; forked workers check all parts but the first.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.data.formats import Conversation, TargetFact, detect, normalise
from tools.validate.models import Finding, ValidateRequest
from tools.validate.plain_chat import read_plain_chat

_BATCH = 2000
_LINES_KEPT = 50


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


def column_dtype(bands: int) -> Any:
    import numpy as np

    return np.dtype(
        [
            ("file", "i2"),
            ("line", "i4"),
            ("offset", "i8"),
            ("full", "u8"),
            ("prompt", "u8"),
            ("answer", "u8"),
            ("total", "i4"),
            ("asst", "i4"),
            ("billed", "i4"),
            ("bands", "u8", (bands,)),
        ]
    )


# ---------------------------------------------------------------- the tool


class Columns:
    """Per-example records kept on disk, one file per column, so memory holds a column at a time."""

    def __init__(self, folder: Path, dtype: Any) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="examples.", dir=folder))
        self.dtype = dtype
        self.fields = [n for n in dtype.names if n != "bands"]
        self.bands = dtype["bands"].shape[0]
        self.names = self.fields + [f"band{j}" for j in range(self.bands)]
        self.handles: dict[str, Any] = {n: open(self.dir / n, "ab") for n in self.names}  # noqa: SIM115
        self.n = 0
        self._cache: dict[str, Any] = {}

    def write(self, arr: Any) -> None:
        import numpy as np

        for name in self.fields:
            self.handles[name].write(np.ascontiguousarray(arr[name]).tobytes())
        for j in range(self.bands):
            self.handles[f"band{j}"].write(np.ascontiguousarray(arr["bands"][:, j]).tobytes())
        self.n += len(arr)

    def flush(self) -> None:
        for handle in self.handles.values():
            handle.flush()

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()

    def append_from(self, other: Columns) -> None:
        for name in self.names:
            with open(other.dir / name, "rb") as src:
                while block := src.read(1 << 22):
                    self.handles[name].write(block)
        first = self.fields[0]  # the child process counted its rows; the file sizes tell the parent
        self.n += (other.dir / first).stat().st_size // self.dtype[first].itemsize

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, name: str) -> Any:
        import numpy as np

        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self.flush()
        column = np.fromfile(self.dir / name, dtype=self.dtype[name])
        if name in ("file", "line"):  # small and read all the time (line numbers); others load on demand
            self._cache[name] = column
        return column

    def band(self, j: int) -> Any:
        import numpy as np

        self.flush()
        return np.fromfile(self.dir / f"band{j}", dtype=np.uint64)

    def remove(self) -> None:
        import shutil

        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


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


def _scan_range(
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
_MIN_BYTES_PER_WORKER = 4 << 20  # below this a forked worker costs more than it saves
_STATE_FIELDS = (
    "counts",
    "kept",
    "systems",
    "no_system",
    "refusals",
    "refusal_count",
    "assistant_turns",
    "short",
    "short_count",
)


class _Progress:
    """Bytes done by each worker of one file, in shared memory that forked workers write into; the parent reports
    the sum to the listening surface (tools.core.progress)."""

    def __init__(self, slots: int, base: int, total: int, label: str) -> None:
        import mmap

        self.shared = mmap.mmap(-1, 8 * slots)
        self.slots, self.base, self.total, self.label = slots, base, total, label

    def tick(self, slot: int, done: int) -> None:
        import struct

        struct.pack_into("q", self.shared, 8 * slot, done)
        if slot == 0:
            self.report()

    def report(self) -> None:
        import struct

        from tools.core import progress

        done = sum(struct.unpack_from(f"{self.slots}q", self.shared))
        progress.report(self.base + done, self.total, self.label)


def scan_file(ctx: ScanContext, run: ScanRun, fs: FileState, rec_out: Any, where: tuple[int, int] = (0, 0)) -> bool:
    """Scan one file, cut at line boundaries into one part per worker (tools.core.forked.workers): this process
    checks the first part, forked workers the others, and their findings and records are appended in file order.

    ``where`` = (bytes of the files before this one, bytes of all files), for progress."""
    from tools.core.forked import fan_out, workers

    size = fs.path.stat().st_size
    parts = max(1, min(workers(), size // _MIN_BYTES_PER_WORKER))
    base, total = where
    bar = _Progress(parts, base, total or size, f"checking {fs.shown}")
    spans = _spans(fs.path, size, parts) if parts > 1 else [(0, None, 1)]
    if len(spans) == 1:
        return _scan_range(ctx, run, fs, rec_out, spans[0], lambda done: bar.tick(0, done))
    run.spool.flush()
    rec_out.flush()
    children = [_Part(ctx, run, fs, span, lambda done, k=k: bar.tick(k, done)) for k, span in enumerate(spans[1:], 1)]
    try:
        parsed_any, states = fan_out(
            lambda: _scan_range(ctx, run, fs, rec_out, spans[0], lambda done: bar.tick(0, done)),
            children,
            tmp=ctx.tmp,  # type: ignore[arg-type]
            what=f"checking part of {fs.shown}",
            idle=bar.report,
        )
        bar.report()  # the workers' last ticks may have come after this process's
        for part, state in zip(children, states, strict=True):
            with open(part.spool, encoding="utf-8") as spool:
                for row in spool:
                    run.spool.write(row)
            part.cols.close()
            rec_out.append_from(part.cols)
            _merge_state(run, fs, state)
            parsed_any = parsed_any or state["parsed"]
        return parsed_any
    finally:
        for part in children:
            part.remove()


class _Part:
    """One forked worker's part of a file: its byte span, its own findings spool and record columns."""

    def __init__(self, ctx: ScanContext, run: ScanRun, fs: FileState, span: tuple[int, int | None, int], tick: Any):
        fd, self.spool = tempfile.mkstemp(prefix="findings-part.", dir=ctx.tmp)
        os.close(fd)
        self.cols = Columns(ctx.tmp, ctx.dtype)  # type: ignore[arg-type]
        self.ctx, self.run, self.fs, self.span, self.tick = ctx, run, fs, span, tick

    def __call__(self) -> dict[str, Any]:
        fs = self.fs
        with open(self.spool, "w", encoding="utf-8") as spool:
            sub = ScanRun(self.run.req, spool)
            part = FileState(fs.index, fs.path, fs.shown, fs.fmt, fs.target, renames=fs.renames)
            parsed = _scan_range(self.ctx, sub, part, self.cols, self.span, self.tick)
            self.cols.close()
        state = {k: getattr(sub, k) for k in _STATE_FIELDS}
        return {
            **state,
            "tallies": sub.content.tallies if sub.content is not None else None,
            "parsed": parsed,
            "lines": part.lines,
            "examples": part.examples,
            "fcounts": part.counts,
        }

    def remove(self) -> None:
        self.cols.remove()
        try:
            os.unlink(self.spool)
        except OSError:
            pass


def _spans(path: Path, size: int, parts: int) -> list[tuple[int, int | None, int]]:
    """``parts`` byte spans (start, stop, number of the first line) cut at line starts; fewer when lines are long."""
    cuts: list[int] = []
    with path.open("rb") as handle:
        for k in range(1, parts):
            handle.seek(size * k // parts)
            handle.readline()
            at = handle.tell()
            if at < size and (not cuts or at > cuts[-1]):
                cuts.append(at)
        numbers = [1]
        handle.seek(0)
        newlines, pos = 0, 0
        for cut in cuts:
            while pos < cut:
                block = handle.read(min(1 << 22, cut - pos))
                if not block:
                    break
                newlines += block.count(b"\n")
                pos += len(block)
            numbers.append(newlines + 1)
    starts = [0] + cuts
    stops: list[int | None] = [*cuts, None]
    return list(zip(starts, stops, numbers, strict=True))


def _merge_state(run: ScanRun, fs: FileState, state: dict[str, Any]) -> None:
    """Fold a worker's counters and kept lines into ``run`` and ``fs``, keeping the same bounds."""
    run.counts.update(state["counts"])
    room = max(0, 400 - len(run.kept))
    run.kept.extend(state["kept"][:room] if room else [f for f in state["kept"] if f.severity == "error"][:50])
    for key, (count, lines, length) in state["systems"].items():
        entry = run.systems.get(key)
        if entry is None:
            if len(run.systems) < 1000:
                run.systems[key] = [count, lines, length]
        else:
            entry[0] += count
            entry[1].extend(lines[: max(0, _LINES_KEPT - len(entry[1]))])
    run.no_system[0] += state["no_system"][0]
    run.no_system[1].extend(state["no_system"][1][: max(0, _LINES_KEPT - len(run.no_system[1]))])
    run.refusals.extend(state["refusals"][: max(0, 1000 - len(run.refusals))])
    run.short.extend(state["short"][: max(0, 1000 - len(run.short))])
    run.refusal_count += state["refusal_count"]
    run.short_count += state["short_count"]
    run.assistant_turns += state["assistant_turns"]
    if state["tallies"] is not None and run.content is not None:
        run.content.merge(state["tallies"])
    fs.counts.update(state["fcounts"])
    fs.examples += state["examples"]
    fs.lines = max(fs.lines, state["lines"])


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
        if len(run.no_system[1]) < _LINES_KEPT:
            run.no_system[1].append((fs.shown, line_no))
    else:
        sh = _run_hash(system)
        entry = run.systems.get(sh)
        if entry is None and len(run.systems) < 1000:
            entry = run.systems[sh] = [0, [], len(system)]
        if entry is not None:
            entry[0] += 1
            if len(entry[1]) < _LINES_KEPT:
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


def lines_of(recs: Any, idx: Any, files: list[FileState]) -> list[tuple[str, int]]:
    return [(files[int(recs["file"][i])].shown, int(recs["line"][i])) for i in idx]
