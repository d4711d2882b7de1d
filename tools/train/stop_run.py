"""stop_run: end a local run cleanly (it checkpoints and saves its adapter first)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from pydantic import BaseModel, Field

from tools.core.document import Document
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import current
from tools.train.documents import steer_document
from tools.train.runs import RunInfo, effective_status, elsewhere, not_provider, pid_alive, run_dir, run_info


class StopRunRequest(BaseModel):
    """The run to stop."""

    run_id: str = Field(description="The run id launch_lora returned.")
    wait_s: float | None = Field(
        None, ge=0, le=600, description="Wait up to this many seconds for the clean stop (default 0: return at once)."
    )


class StopRunResult(BaseModel):
    run: RunInfo
    signalled: bool
    message: str

    def document(self) -> Document:
        return steer_document("Stop run", self, self.signalled)


@tool(effect="write", stage="train", destructive=True)
def stop_run(req: StopRunRequest) -> StopRunResult:
    """Stop a running local training run cleanly: it finishes the current step, writes a checkpoint and the adapter so
    far, and ends as stopped (resume_run continues it).

    Sends SIGTERM to the run's process (to every rank of a multi-process run); does nothing to a run that
    already ended."""
    ws = current()
    folder = run_dir(ws, req.run_id)
    status = effective_status(folder)
    host = elsewhere(status)
    if host and status.get("state") in {"queued", "running"}:
        raise ToolError(
            "run_on_other_host",
            f"run {req.run_id} is trained from {host} (node 0); its processes cannot be signalled from this machine",
            f"run `finetune runs stop {req.run_id}` on {host}: every node stops at the same step",
        )
    not_provider(status, req.run_id)
    if status.get("state") not in {"queued", "running"}:
        return StopRunResult(
            run=run_info(ws, folder),
            signalled=False,
            message=f"run {req.run_id} is already {status.get('state')}; nothing to stop",
        )
    signalled = []
    for pid in _stop_targets(status):
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append(str(pid))
        except ProcessLookupError:
            continue
    if not signalled:
        return StopRunResult(run=run_info(ws, folder), signalled=False, message=f"process {status.get('pid')} is gone")
    deadline = time.monotonic() + (req.wait_s or 0)
    while time.monotonic() < deadline and effective_status(folder).get("state") in {"queued", "running"}:
        time.sleep(0.2)
    info = run_info(ws, folder)
    msg = (
        f"run {req.run_id} stopped at step {info.step}"
        if info.state == "stopped"
        else f"sent SIGTERM to pid {', '.join(signalled)}; the run stops after its current step ("
        + say("watch_run", run_id=req.run_id)
        + ")"
    )
    return StopRunResult(run=info, signalled=True, message=msg)


def _stop_targets(status: dict[str, Any]) -> list[int]:
    """Who gets SIGTERM: every rank of a multi-process run (they agree on the step to stop at, checkpoint and end,
    and the launcher then exits on its own; signalling the launcher instead would make torchrun SIGKILL the ranks
    30 s later, maybe mid-checkpoint), or the launcher while the ranks have not reported their pids yet."""
    workers = [p for p in status.get("worker_pids") or [] if isinstance(p, int) and pid_alive(p)]
    launcher = status.get("pid")
    return workers or ([launcher] if isinstance(launcher, int) and launcher > 0 else [])


__all__ = ["StopRunRequest", "StopRunResult", "stop_run"]
