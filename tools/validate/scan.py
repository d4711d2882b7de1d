"""The streaming pass of validate_jsonl: per-line checks, token counts and per-example records.

Each example leaves a fixed-size record (line, offset, content hashes, token counts, MinHash band
keys) in :class:`Columns`, one file per column under ``.finetune/tmp``, so memory stays flat as
the file grows; the dataset-level checks (tools/validate/dataset_findings.py) read one column at a time.
A large file is split at a line boundary and its second half is checked by a forked process.
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
    tmp: Path | None = None


def _scan_range(
    ctx: ScanContext, run: ScanRun, fs: FileState, rec_out: Any, start: int, stop: int | None, first_number: int
) -> bool:
    """Check lines in bytes start..stop of one file; append example records to rec_out.

    The cyclic garbage collector is paused meanwhile: the scan makes millions of short-lived, acyclic objects
    (refcounting frees them) and the collector's passes over them cost about 3% of the time."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan_lines(ctx, run, fs, rec_out, start, stop, first_number)
    finally:
        if was_enabled:
            gc.enable()


def _scan_lines(
    ctx: ScanContext, run: ScanRun, fs: FileState, rec_out: Any, start: int, stop: int | None, first_number: int
) -> bool:
    from tools.data.jsonl import parse, read_lines

    req, F = ctx.req, ctx.F
    q = F.quality
    reserved = F.nova_reserved.strings
    pending: list[tuple[int, int, Conversation]] = []
    parsed_any = False

    def flush() -> None:
        rec_out.write(
            _flush(
                run,
                fs,
                pending,
                ctx.counter,
                F.chat_overhead,
                ctx.limit,
                ctx.hasher,
                ctx.dtype,
                ctx.refusal_phrases,
                q.min_assistant_tokens,
            )
        )
        pending.clear()

    for line in read_lines(fs.path, max_bytes=q.max_line_bytes, start=start, stop=stop, first_number=first_number):
        fs.lines = line.number
        if line.text is None:
            run.add(fs, line.problem or "unreadable_line", "error", line.detail, line.number)
            continue
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
            continue
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
            continue
        parsed_any = True
        if fs.fmt is None:
            continue
        plain = read_plain_chat(obj, fs.target, reserved) if fs.fmt == "openai_chat" and type(obj) is dict else None
        if plain is not None:
            conv, issues = plain
        else:
            line_fmt = detect(obj) if isinstance(obj, dict) else None
            if isinstance(obj, dict) and line_fmt != fs.fmt and not req.format:
                run.add(
                    fs,
                    "format_mismatch",
                    "error",
                    f"this line is {line_fmt or 'no known format'}, the file is {fs.fmt}",
                    line.number,
                )
                continue
            conv = normalise(obj, fs.fmt) if isinstance(obj, dict) else None
            issues = ctx.check_line(obj, fs.fmt, fs.target, conv, reserved)
        for code, sev, msg in issues:
            run.add(fs, code, sev, msg, line.number)
        if (
            conv is None
            or issues
            and any(sev == "error" and code in ("missing_messages", "wrong_top_level_type") for code, sev, _ in issues)
        ):
            continue
        fs.examples += 1
        pending.append((line.number, line.offset, conv))
        if len(pending) >= _BATCH:
            flush()
    if pending:
        flush()
    return parsed_any


_PARALLEL_MIN_BYTES = 8 << 20
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


def scan_file(ctx: ScanContext, run: ScanRun, fs: FileState, rec_out: Any) -> bool:
    """Scan one file; a large file is split in two halves checked by this process and a forked one."""
    from tools.core.forked import can_fork, in_parallel

    size = fs.path.stat().st_size
    if size < _PARALLEL_MIN_BYTES or not can_fork():
        return _scan_range(ctx, run, fs, rec_out, 0, None, 1)
    mid, newlines = _midpoint(fs.path, size)
    if mid >= size:
        return _scan_range(ctx, run, fs, rec_out, 0, None, 1)
    fd, child_spool = tempfile.mkstemp(prefix="findings-b.", dir=ctx.tmp)
    os.close(fd)
    child_cols = Columns(ctx.tmp, ctx.dtype)

    def second_half() -> dict[str, Any]:
        with open(child_spool, "w", encoding="utf-8") as spool:
            sub = ScanRun(run.req, spool)
            part = FileState(fs.index, fs.path, fs.shown, fs.fmt, fs.target)
            parsed = _scan_range(ctx, sub, part, child_cols, mid, None, newlines + 1)
            child_cols.close()
        state = {k: getattr(sub, k) for k in _STATE_FIELDS}
        return {**state, "parsed": parsed, "lines": part.lines, "examples": part.examples, "fcounts": part.counts}

    run.spool.flush()
    rec_out.flush()
    try:
        parsed_any, state = in_parallel(
            lambda: _scan_range(ctx, run, fs, rec_out, 0, mid, 1),
            second_half,
            tmp=ctx.tmp,
            what=f"checking the second half of {fs.shown}",
        )
        with open(child_spool, encoding="utf-8") as spool:
            for row in spool:
                run.spool.write(row)
        child_cols.close()
        rec_out.append_from(child_cols)
        _merge_state(run, fs, state)
        return parsed_any or state["parsed"]
    finally:
        child_cols.remove()
        try:
            os.unlink(child_spool)
        except OSError:
            pass


def _midpoint(path: Path, size: int) -> tuple[int, int]:
    """(the byte offset of the first line starting at or after the middle, the number of lines before it)."""
    with path.open("rb") as handle:
        handle.seek(size // 2)
        handle.readline()
        mid = handle.tell()
        handle.seek(0)
        newlines = 0
        remaining = mid
        while remaining > 0:
            block = handle.read(min(1 << 22, remaining))
            if not block:
                break
            newlines += block.count(b"\n")
            remaining -= len(block)
    return mid, newlines


def _merge_state(run: ScanRun, fs: FileState, state: dict[str, Any]) -> None:
    """Fold the second half's counters and kept lines into ``run`` and ``fs``, keeping the same bounds."""
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


def _flush(
    run: ScanRun,
    fs: FileState,
    pending: list[tuple[int, int, Conversation]],
    counter: Any,
    overhead: Any,
    limit: int | None,
    hasher: Any,
    dtype: Any,
    refusal_phrases: Any,
    min_asst: int,
) -> Any:
    """Token counts, hashes, band keys and per-example checks for a batch of examples."""
    import numpy as np

    count = counter.count  # cached: a repeated string (a shared system prompt) is encoded once
    per_msg, per_name, priming = overhead.tokens_per_message, overhead.tokens_per_name, overhead.reply_priming
    columns: dict[str, list[int]] = {
        name: [] for name in ("line", "offset", "full", "prompt", "answer", "total", "asst", "billed")
    }
    c_line, c_offset, c_full, c_prompt, c_answer = (columns[k] for k in ("line", "offset", "full", "prompt", "answer"))
    c_total, c_asst, c_billed = columns["total"], columns["asst"], columns["billed"]
    for line_no, offset, conv in pending:
        total = asst = billed = 0
        if conv.text is not None:
            total = asst = billed = count(conv.text)
        n_msgs = 0
        for m in conv.messages:
            n = count(m.content)
            if m.tool_calls:
                for c in m.tool_calls:
                    n += count(f"{c.name} {c.arguments}")
            total += n
            billed += n + per_msg + (per_name if m.name else 0)
            n_msgs += 1
            if m.role == "assistant" and m.weight != 0:
                asst += n
                run.assistant_turns += 1
                if refusal_phrases.search(m.content.lower()):
                    run.refusal_count += 1
                    if len(run.refusals) < 1000:
                        run.refusals.append((fs.shown, line_no))
                if 0 < n < min_asst and m.content.strip():
                    run.short_count += 1
                    if len(run.short) < 1000:
                        run.short.append((fs.shown, line_no))
        for m in conv.rejected or ():
            n = count(m.content)
            total += n
            billed += n + per_msg
        if conv.tools:
            n = count(json.dumps(conv.tools, sort_keys=True))
            total += n
            billed += n
        if n_msgs:
            billed += priming
        if limit and billed > limit:
            run.add(
                fs,
                "too_many_tokens",
                fs.target.over_limit,
                f"{billed:,} tokens; {fs.target.id} allows {limit:,} per example"
                + (" (the end is truncated, often losing the answer)" if fs.target.over_limit == "warning" else ""),
                line_no,
            )
        msgs = conv.messages
        if conv.text is not None:
            full = _run_hash(("T", _fold(conv.text)))
            prompt = answer = 0
        else:
            keys = _msg_keys(msgs)
            full = _run_hash((keys, _msg_keys(conv.rejected) if conv.rejected else ()))
            if msgs and msgs[-1].role == "assistant" and (keys[-1][1] or msgs[-1].tool_calls):
                prompt = _run_hash(keys[:-1])
                answer = _run_hash(keys[-1:])
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
        c_line.append(line_no)
        c_offset.append(offset)
        c_full.append(full)
        c_prompt.append(prompt)
        c_answer.append(answer)
        c_total.append(total)
        c_asst.append(asst)
        c_billed.append(billed)
    out = np.zeros(len(pending), dtype=dtype)
    out["file"] = fs.index
    for name, values in columns.items():
        out[name] = np.array(values, dtype=dtype[name])
    if hasher is not None:
        out["bands"] = hasher.keys([dup_text(conv) for _, _, conv in pending])
    return out


def lines_of(recs: Any, idx: Any, files: list[FileState]) -> list[tuple[str, int]]:
    return [(files[int(recs["file"][i])].shown, int(recs["line"][i])) for i in idx]
