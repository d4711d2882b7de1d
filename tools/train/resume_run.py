"""resume_run: continue a stopped or killed local run from its last checkpoint, after checking its data, its model and
that no worker holds it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from tools.core.document import Document
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, current, sha256_file
from tools.train.documents import steer_document
from tools.train.nodes import record_node
from tools.train.process import lock_run, spawn_worker
from tools.train.runs import (
    RunInfo,
    checkpoints,
    effective_status,
    elsewhere,
    live_pids,
    not_provider,
    now_iso,
    read_json,
    run_dir,
    run_info,
    this_host,
    update_status,
)


class ResumeRunRequest(BaseModel):
    """The run to resume."""

    run_id: str = Field(description="A stopped, killed or failed run with a checkpoint.")
    node_rank: int = Field(
        0,
        ge=0,
        description="A run over several nodes: this machine's node rank (resume it on every node, 0 included).",
    )
    confirm: StrictBool = Field(False, description="Must be true to start the process (resuming trains for minutes).")


class ResumeRunResult(BaseModel):
    run: RunInfo
    started: bool
    from_checkpoint: str | None
    message: str
    pid: int | None = Field(None, description="The launcher this call started (this node's).")

    def document(self) -> Document:
        return steer_document("Resume run", self, self.started)


def _restart(folder: Path, run_id: str) -> int:
    """Take the run's lock, check under it that the run is still resumable (a concurrent resume may have finished
    it meanwhile), and hand the lock to a new worker; its pid."""
    lock_fd = lock_run(folder, run_id, wait_s=30.0)
    try:
        if read_json(folder / "status.json").get("state") == "completed":
            raise ToolError("run_completed", f"run {run_id} already completed", "launch a new run to train further")
        update_status(
            folder,
            state="queued",
            pid=None,
            worker_pids=None,
            rank_pids=None,
            error=None,
            stop_reason=None,
            created_at=now_iso(),
            finished_at=None,
        )
        pid = spawn_worker(folder, resume=True, lock_fd=lock_fd)
    except BaseException:
        try:
            os.close(lock_fd)
        except OSError:
            pass
        raise
    update_status(folder, pid=pid, host=this_host())
    if int(read_json(folder / "config.json").get("nodes") or 1) > 1:
        record_node(folder, 0, pid, resume=True)
    return pid


def _dry_run(ws: Workspace, folder: Path, start: str | None, what: str, command: str) -> ResumeRunResult:
    """What a resume without confirm answers: what it would do, and how to say yes."""
    confirm = say("confirm_to_start", tool="resume_run", command=command, chat="resume it", action="resume it")
    return ResumeRunResult(run=run_info(ws, folder), started=False, from_checkpoint=start, message=f"{what}. {confirm}")


def _rejoin(ws: Workspace, folder: Path, req: ResumeRunRequest) -> ResumeRunResult:
    """Node rank > 0 of a several-node run: start this node's ranks again on the shared folder. Node 0's resume
    checks the run's state and picks the checkpoint; every rank resumes from the same one."""
    config = read_json(folder / "config.json")
    nodes = int(config.get("nodes") or 1)
    if req.node_rank >= nodes:
        raise ToolError(
            "bad_node_rank",
            f"run {req.run_id} spans {nodes} node(s); node rank {req.node_rank} is not one of them",
            f"give a node rank from 0 to {nodes - 1}",
        )
    if read_json(folder / "status.json").get("state") == "completed":
        raise ToolError("run_completed", f"run {req.run_id} already completed", "launch a new run to train further")
    ckpt = checkpoints(folder)
    start = ckpt[-1][1].name if ckpt else None
    if not req.confirm:
        what = f"would start node {req.node_rank} of run {req.run_id} again, from node 0's checkpoint"
        return _dry_run(ws, folder, start, what, f"finetune runs resume {req.run_id} --node-rank {req.node_rank}")
    lock_fd = lock_run(folder, req.run_id, wait_s=30.0, node_rank=req.node_rank)
    pid = spawn_worker(folder, resume=True, lock_fd=lock_fd, node_rank=req.node_rank)
    record_node(folder, req.node_rank, pid, resume=True)
    return ResumeRunResult(
        run=run_info(ws, folder),
        started=True,
        pid=pid,
        from_checkpoint=start,
        message=f"node {req.node_rank} of run {req.run_id} started again (pid {pid}); node 0's resume decides the "
        "checkpoint; " + say("watch_run", run_id=req.run_id),
    )


def check_run_data(ws: Workspace, config: dict[str, Any], key: str, run_id: str) -> None:
    """A resumed run trains on what it started on: the data path inside the workspace, and its bytes unchanged."""
    entry = config.get(key) or {}
    if not entry.get("path"):
        if key == "data":
            raise ToolError("run_config_missing", f"run {run_id}: config.json names no data", "launch a new run")
        return
    path = ws.input_file(str(entry["path"]), what=f"the run's {key.replace('_', ' ')} (config.json)")
    if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
        raise ToolError(
            "data_changed",
            f"run {run_id}: {ws.relative(path)} changed since the run started (sha256 differs from config.json)",
            "restore the original file to resume, or launch a new run on the new data",
        )


@tool(effect="write", stage="train", duration="minutes", destructive=True)
def resume_run(req: ResumeRunRequest) -> ResumeRunResult:
    """Resume a stopped or killed local training run from its last checkpoint, with the same plan and data order, in a
    new background process; returns at once.

    Needs confirm=true to start; without it, says which checkpoint it would continue from."""
    ws = current()
    folder = run_dir(ws, req.run_id)
    if req.node_rank > 0:
        return _rejoin(ws, folder, req)
    status = effective_status(folder)
    not_provider(status, req.run_id)
    state = status.get("state")
    ckpt = checkpoints(folder)
    # A run node 0 trained from another machine (a requeued cluster job lands elsewhere): its pids cannot be checked
    # here, so the run's lock decides (held while its launcher lives, on storage whose locks every node sees).
    if state in {"queued", "running"} and not elsewhere(status):
        raise ToolError(
            "run_active",
            f"run {req.run_id} is still {state} (pids {', '.join(map(str, live_pids(status)))})",
            say("stop_run_first", run_id=req.run_id),
        )
    if state == "completed":
        raise ToolError("run_completed", f"run {req.run_id} already completed", "launch a new run to train further")
    start = ckpt[-1][1].name if ckpt else None
    config = read_json(folder / "config.json")
    for key in ("data", "eval_data"):
        check_run_data(ws, config, key, req.run_id)
    from tools.local_models.loader import resolve_model

    resolve_model(str((config.get("plan") or {}).get("base_model") or ""), ws.root)  # not resumed into a failure
    if not req.confirm:
        where = f"from {start}" if start else "from step 0 (no checkpoint was written)"
        return _dry_run(
            ws, folder, start, f"would resume run {req.run_id} {where}", f"finetune runs resume {req.run_id}"
        )
    pid = _restart(folder, req.run_id)
    return ResumeRunResult(
        run=run_info(ws, folder),
        started=True,
        pid=pid,
        from_checkpoint=start,
        message=f"resuming run {req.run_id} "
        + (f"from {start}" if start else "from the start")
        + f" (pid {pid}); "
        + say("watch_run", run_id=req.run_id),
    )


__all__ = ["ResumeRunRequest", "ResumeRunResult", "check_run_data", "resume_run"]
