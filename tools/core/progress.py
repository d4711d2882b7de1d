"""Progress reporting from inside a tool, to whichever surface is listening.

Long tools call :func:`report` as they go; the CLI shows a progress bar, the MCP server sends
``notifications/progress``, and with nobody listening it costs nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

Reporter = Callable[[float, float | None, str | None], None]

_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("finetune_progress", default=None)


def report(done: float, total: float | None = None, message: str | None = None) -> None:
    """Tell the listening surface how far the current tool has come."""
    listener = _reporter.get()
    if listener is not None:
        listener(done, total, message)


@contextlib.contextmanager
def reporting(listener: Reporter) -> Iterator[None]:
    """Send progress reported inside the block to ``listener``."""
    token = _reporter.set(listener)
    try:
        yield
    finally:
        _reporter.reset(token)
