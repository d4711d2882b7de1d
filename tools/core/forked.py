"""Parts of a CPU-bound job at once: the first in this process, the others in forked children, one per core.

The validator's scan and its near-duplicate confirmation are pure Python per item, so threads would
wait on the GIL; a forked child shares the loaded tokenizer and tables for free. Each child's result
comes back pickled through a temp file. Forking is skipped (every part runs here, one after the
other) on one CPU, where ``fork`` does not exist, when ``FINETUNE_NO_FORK`` is set, or when this process
runs other threads (an MCP server or agent loop), since a forked copy of a threaded process can deadlock.
:func:`workers` is how many parts to cut: the CPUs this process may use, or ``FINETUNE_WORKERS``.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tools.core.errors import ToolError

A = TypeVar("A")
B = TypeVar("B")


def can_fork() -> bool:
    return (
        hasattr(os, "fork")
        and (os.cpu_count() or 1) >= 2
        and not os.environ.get("FINETUNE_NO_FORK")
        and threading.active_count() == 1
    )


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers() -> int:
    """How many parts to cut CPU-bound work into: ``FINETUNE_WORKERS`` when set, else the CPUs; 1 without fork."""
    if not can_fork():
        return 1
    wanted = os.environ.get("FINETUNE_WORKERS", "").strip()
    if wanted.isdigit() and int(wanted) >= 1:
        return int(wanted)
    return cpus()


def in_parallel(here: Callable[[], A], there: Callable[[], B], *, tmp: Path, what: str) -> tuple[A, B]:
    """(here(), there()), with ``there`` run in a forked child when :func:`can_fork`; ``what`` names the child's
    work in the error raised when it fails."""
    mine, theirs = fan_out(here, [there], tmp=tmp, what=what)
    return mine, theirs[0]


def fan_out(
    here: Callable[[], A],
    there: Sequence[Callable[[], B]],
    *,
    tmp: Path,
    what: str,
    idle: Callable[[], None] | None = None,
) -> tuple[A, list[B]]:
    """(here(), [each of there()]), each of ``there`` in its own forked child when :func:`can_fork`.

    ``idle`` is called about five times a second while this process waits for the children (progress)."""
    if not there:
        return here(), []
    if not can_fork():
        return here(), [job() for job in there]
    paths: list[str] = []
    pids: list[int] = []
    try:
        for job in there:
            fd, result_path = tempfile.mkstemp(prefix="forked.", dir=tmp)
            os.close(fd)
            paths.append(result_path)
            pid = os.fork()
            if pid == 0:
                _child(job, result_path)
            pids.append(pid)
        mine = here()
        failed = _wait(pids, idle)
        if failed:
            raise ToolError("internal_error", f"{what} failed in a forked worker", "rerun with FINETUNE_NO_FORK=1")
        theirs: list[B] = []
        for result_path in paths:
            with open(result_path, "rb") as handle:
                theirs.append(pickle.load(handle))
        return mine, theirs
    finally:
        for pid in pids:
            if pid:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        for result_path in paths:
            try:
                os.unlink(result_path)
            except OSError:
                pass


def _child(job: Callable[[], object], result_path: str) -> None:
    code = 1
    try:
        value = job()
        with open(result_path, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    finally:
        os._exit(code)


def _wait(pids: list[int], idle: Callable[[], None] | None) -> bool:
    """Reap every child (marking each 0 in ``pids``); True when one of them failed."""
    failed = False
    while any(pids):
        for k, pid in enumerate(pids):
            if not pid:
                continue
            done, status = os.waitpid(pid, os.WNOHANG if idle else 0)
            if done:
                pids[k] = 0
                failed = failed or status != 0
        if any(pids) and idle is not None:
            idle()
            time.sleep(0.2)
    return failed
