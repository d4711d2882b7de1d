"""skill.progress_bar: a tool's reported progress drawn on a terminal, with no refresh thread (so tools may fork)."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from skill.progress_bar import progress_bar
from tools.core import progress


def test_bar_draws_reports_without_a_thread() -> None:
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=True, width=100)
    threads = threading.active_count()
    with progress_bar(console, "validating"):
        assert threading.active_count() == threads
        progress.report(50, 100, "checking train.jsonl")
    assert "checking train.jsonl" in sink.getvalue() and "50%" in sink.getvalue()


def test_no_bar_off_a_terminal() -> None:
    sink = io.StringIO()
    with progress_bar(Console(file=sink, force_terminal=False), "validating"):
        progress.report(1, 2, "checking")
    assert sink.getvalue() == ""
