"""A progress bar on stderr for tools that report progress (tools.core.progress), for any CLI command.

The bar refreshes only when the tool reports (no refresh thread), so a tool that forks worker processes still
may: tools.core.forked refuses to fork a process that runs other threads. Nothing is shown when stderr is not a
terminal (pipes, CI, ``--json`` captured by a script).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tools.core import progress


@contextlib.contextmanager
def progress_bar(console: Console, description: str) -> Iterator[None]:
    """Show the progress the tool called inside the block reports, as a transient bar on ``console``."""
    if not console.is_terminal:
        yield
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    task = bar.add_task(description, total=None)
    last = [0.0]

    def listener(done: float, total: float | None, message: str | None) -> None:
        bar.update(task, completed=done, total=total, description=message or description)
        now = time.monotonic()
        if now - last[0] >= 0.1:
            last[0] = now
            bar.refresh()

    with bar, progress.reporting(listener):
        yield
