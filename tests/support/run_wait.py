"""Polling a local training run from a test until it reaches a state, with its log on a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tools.core import registry
from tools.core.workspace import Workspace


def wait_for_run(ws: Workspace, run_id: str, until: Callable[[Any], bool], timeout: float = 240.0) -> Any:
    """The run's RunInfo once ``until(info)`` holds; an AssertionError with the end of train.log after ``timeout``."""
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = registry.call("run_status", {"run_id": run_id}, workspace=ws).runs[0]
        if until(info):
            return info
        time.sleep(0.1)
    log = (ws.root / "runs" / run_id / "train.log").read_text()[-4000:]
    raise AssertionError(f"timed out waiting; last status {info}; log:\n{log}")
