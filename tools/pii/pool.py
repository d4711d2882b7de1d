"""Running the per-line work of ``scan_pii`` on every core: the file cut into blocks, one process per core.

spaCy's NER holds the GIL, so threads would not help; each worker is a process that loads its own pipeline
once. Workers are forked from a fork server (a clean single-threaded process that has imported spaCy and
Presidio once; forking this process could copy a lock held by another thread, and the MCP server runs tools
in threads), and the fork server does not import the caller's ``__main__`` (the whole CLI). Blocks are byte
ranges cut at line ends, so a worker reads its lines itself and only results travel back, in file order.
With one worker everything runs in this process, with no start-up cost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tools.pii.engine import PiiEngine, engine

_ENGINE: PiiEngine | None = None


def cores() -> int:
    """CPU cores this process may run on (``FINETUNE_WORKERS`` overrides, as for validate)."""
    from tools.core.forked import cpus

    wanted = os.environ.get("FINETUNE_WORKERS", "").strip()
    return int(wanted) if wanted.isdigit() and int(wanted) >= 1 else max(1, cpus())


def plan(path: Path, lines_per_block: int, bytes_per_block: int) -> list[tuple[int, int | None, int]]:
    """Byte ranges (start, stop, first line number) cut at line ends: at most ``lines_per_block`` lines each,
    and cut as soon as a range passes ``bytes_per_block``."""
    blocks: list[tuple[int, int | None, int]] = []
    start, first, count, pos = 0, 1, 0, 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            i = 0
            while (j := chunk.find(b"\n", i)) >= 0:
                count += 1
                i = j + 1
                end = pos + i
                if count >= lines_per_block or end - start >= bytes_per_block:
                    blocks.append((start, end, first))
                    start, first, count = end, first + count, 0
            pos += len(chunk)
    if pos > start:
        blocks.append((start, None, first))
    return blocks


def _init(language: str, model: str | None) -> None:
    global _ENGINE
    _ENGINE = engine(language, model)


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    assert _ENGINE is not None
    return fn(_ENGINE, *args)


class Workers:
    """``map`` over blocks in file order, in this process (one worker) or in a pool of spawned processes."""

    def __init__(self, count: int, language: str, model: str | None) -> None:
        self.count = count
        self.language, self.model = language, model or "blank"  # the model is resolved: None means none
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        if self.count > 1:
            import multiprocessing

            try:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["tools.pii.pool", "spacy", "presidio_analyzer"])
            except ValueError:  # no fork server on this platform
                context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.count,
                mp_context=context,
                initializer=_init,
                initargs=(self.language, self.model),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        """``fn(engine, *task)`` for each task, yielded in order; at most two tasks per worker in flight."""
        if self._pool is None:
            eng = engine(self.language, self.model)
            for task in tasks:
                yield fn(eng, *task)
            return
        window = 2 * self.count
        pending: list[Future[Any]] = []
        queue = iter(tasks)
        for task in queue:
            pending.append(self._pool.submit(_call, fn, task))
            if len(pending) >= window:
                break
        while pending:
            result = pending.pop(0).result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(self._pool.submit(_call, fn, nxt))
            yield result
