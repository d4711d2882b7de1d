"""Two halves of a CPU-bound job at once: one in this process, one in a forked child.

The validator's scan and its near-duplicate confirmation are pure Python per item, so threads would
wait on the GIL; a forked child shares the loaded tokenizer and tables for free. The child's result
comes back pickled through a temp file. Forking is skipped (both halves run here, one after the
other) on one CPU, where ``fork`` does not exist, when ``FINETUNE_NO_FORK`` is set, or when this process
runs other threads (an MCP server or agent loop), since a forked copy of a threaded process can deadlock.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from collections.abc import Callable
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


def in_parallel(here: Callable[[], A], there: Callable[[], B], *, tmp: Path, what: str) -> tuple[A, B]:
    """(here(), there()), with ``there`` run in a forked child when :func:`can_fork`; ``what`` names the child's
    work in the error raised when it fails."""
    if not can_fork():
        return here(), there()
    fd, result_path = tempfile.mkstemp(prefix="forked.", dir=tmp)
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            value = there()
            with open(result_path, "wb") as out:
                pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    try:
        mine = here()
        _, status = os.waitpid(pid, 0)
        pid = 0
        if status != 0:
            raise ToolError("internal_error", f"{what} failed in the forked worker", "rerun with FINETUNE_NO_FORK=1")
        with open(result_path, "rb") as handle:
            theirs: B = pickle.load(handle)
        return mine, theirs
    finally:
        if pid:
            os.waitpid(pid, 0)
        try:
            os.unlink(result_path)
        except OSError:
            pass
