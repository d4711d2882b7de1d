"""One file cut into one part per core: this process scans the first part, forked workers the others, and their
findings, records and tallies are folded back in file order; progress is the bytes every part has checked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tools.validate.columns import Columns
from tools.validate.scan import LINES_KEPT, FileState, ScanContext, ScanRun, scan_range

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
    bar = _Progress(parts, base, total or size, f"scanning {fs.shown}")
    spans = _spans(fs.path, size, parts) if parts > 1 else [(0, None, 1)]
    if len(spans) == 1:
        return scan_range(ctx, run, fs, rec_out, spans[0], lambda done: bar.tick(0, done))
    run.spool.flush()
    rec_out.flush()
    children = [_Part(ctx, run, fs, span, lambda done, k=k: bar.tick(k, done)) for k, span in enumerate(spans[1:], 1)]
    try:
        parsed_any, states = fan_out(
            lambda: scan_range(ctx, run, fs, rec_out, spans[0], lambda done: bar.tick(0, done)),
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
            parsed = scan_range(self.ctx, sub, part, self.cols, self.span, self.tick)
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
            entry[1].extend(lines[: max(0, LINES_KEPT - len(entry[1]))])
    run.no_system[0] += state["no_system"][0]
    run.no_system[1].extend(state["no_system"][1][: max(0, LINES_KEPT - len(run.no_system[1]))])
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
