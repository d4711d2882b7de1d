"""Run folders (``runs/<run-id>/``) and the tool that reports on them: run_status.

A run folder holds ``config.json`` (the plan and data, enough to reproduce), ``trl_config.yaml`` (the TRL config it
trains with), ``status.json`` (state, progress, latest metrics, pid, error), ``metrics.jsonl`` (one line per logged
step), ``trainer_state.json``, ``checkpoint-<step>/`` folders (the last K), ``adapter/``, ``report.md``,
``run.lock`` (held by the worker, tools.train.process) and ``train.log`` (the worker's stdout and stderr).

The training runs in its own process (tools.train.worker); the tools only read the folder and send signals
(stop_run, resume_run), so they answer at once.
"""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.core.document import Document
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic
from tools.train.checkpoint import complete_checkpoints
from tools.train.documents import status_document

RUNS_DIR = "runs"
LOCK_FILE = "run.lock"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
State = Literal["queued", "running", "completed", "failed", "stopped"]
TERMINAL = {"completed", "failed", "stopped"}


# ----------------------------------------------------------------------------- folder helpers


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_root(ws: Workspace) -> Path:
    return ws.root / RUNS_DIR


def run_dir(ws: Workspace, run_id: str) -> Path:
    """The folder of an existing run, or a ToolError naming the runs there are."""
    if not RUN_ID.match(run_id or ""):
        raise ToolError("bad_run_id", f"{run_id!r} is not a run id", "list runs with `finetune runs list`")
    path = runs_root(ws) / run_id
    if not (path / "config.json").is_file():
        known = [p.name for p in sorted(runs_root(ws).glob("*/config.json"))][-5:]
        raise ToolError(
            "unknown_run",
            f"no run {run_id!r} in {RUNS_DIR}/",
            "known runs: "
            + (", ".join(p.split("/")[0] for p in known) if known else "none yet; start one with launch_lora"),
        )
    return path


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when it is missing or half-written."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def update_status(folder: Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into ``status.json`` (atomic rewrite) and return the new status."""
    status = read_json(folder / "status.json")
    status.update(changes)
    status["updated_at"] = now_iso()
    write_json(folder / "status.json", status)
    return status


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live (not zombie) process; reaps it when it is our own finished child."""
    if not pid or pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields and fields[0] in {"Z", "X"}:
                return False
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            return "tools.train.worker" in cmdline
        except OSError:
            return False
    return True


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first (the Trainer writes trainer_state.json last)."""
    return complete_checkpoints(folder)


def this_host() -> str:
    return platform.node()


def elsewhere(status: dict[str, Any]) -> str | None:
    """The host the run's main launcher runs on when it is not this one (a run over several nodes seen from another
    node, on shared storage): its pids mean nothing here. None for this host, or when no host was recorded."""
    host = status.get("host")
    return host if isinstance(host, str) and host and host != this_host() else None


def live_pids(status: dict[str, Any]) -> list[int]:
    """The run's processes still alive: the launcher (``pid``) and, with several processes, each rank (``worker_pids``).

    The ranks are counted on their own because torchrun starts each in its own session: a killed launcher can
    leave them training, and a run is over only when none is left."""
    pids = [status.get("pid"), *(status.get("worker_pids") or [])]
    return [int(p) for p in pids if isinstance(p, int) and pid_alive(p)]


def effective_status(folder: Path) -> dict[str, Any]:
    """status.json, with a run whose processes died without saying so shown as failed (and resumable)."""
    status = read_json(folder / "status.json")
    state = status.get("state", "queued")
    if elsewhere(status):
        return status  # node 0's processes run on another machine: its status.json is all there is to read
    if state in {"queued", "running"} and not status.get("provider") and not live_pids(status):
        started = status.get("created_at") or status.get("started_at")
        fresh = False
        if state == "queued" and started:
            try:
                age = (
                    datetime.now(UTC) - datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                ).total_seconds()
                fresh = age < 10
            except ValueError:
                fresh = False
        if not fresh:
            status["state"] = "failed"
            status["error"] = (
                f"the training process (pid {status.get('pid')}) ended without finishing "
                f"(killed or crashed) at step {status.get('step', 0)}; see train.log"
            )
    return status


def tail(path: Path, lines: int) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64_000))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [ln[:400] for ln in text.splitlines()[-lines:]]


# ----------------------------------------------------------------------------- tool models


class Metrics(BaseModel):
    """The latest logged metrics of a run."""

    step: int | None = None
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    peak_memory_mb: float | None = None


class RunInfo(BaseModel):
    run_id: str
    state: State
    base_model: str | None
    step: int
    total_steps: int | None
    progress: float = Field(description="0..1")
    latest: Metrics | None
    best_eval_loss: float | None
    pid: int | None
    worker_pids: list[int] | None = Field(
        None, description="one pid per rank when the run trains with several processes"
    )
    started_at: str | None
    updated_at: str | None
    error: str | None
    stop_reason: str | None
    resumable: bool
    last_checkpoint: str | None
    adapter: str | None
    report: str | None
    diagnosis: str | None = Field(None, description="the loss diagnosis headline (diagnose_loss) once the run ended")
    folder: str


class RunStatusRequest(BaseModel):
    """Which run to report on."""

    run_id: str | None = Field(None, description="The run id launch_lora returned; leave empty to list every run.")
    log_lines: int | None = Field(None, ge=0, le=200, description="Also return the last N lines of train.log.")


class RunStatusResult(BaseModel):
    runs: list[RunInfo]
    log_tail: list[str]

    def document(self) -> Document:
        return status_document(self)


def _metrics(raw: Any) -> Metrics | None:
    if not isinstance(raw, dict):
        return None
    return Metrics.model_validate({k: v for k, v in raw.items() if k in Metrics.model_fields})


def run_info(ws: Workspace, folder: Path) -> RunInfo:
    status = effective_status(folder)
    config = read_json(folder / "config.json")
    state = status.get("state", "queued")
    ckpt = checkpoints(folder)
    step = int(status.get("step") or 0)
    total = status.get("total_steps")
    rel = ws.relative(folder)
    return RunInfo(
        run_id=folder.name,
        state=state if state in {"queued", "running", "completed", "failed", "stopped"} else "failed",
        base_model=(config.get("plan") or {}).get("base_model"),
        step=step,
        total_steps=total,
        progress=round(min(1.0, step / total), 4) if total else 0.0,
        latest=_metrics(status.get("latest")),
        best_eval_loss=status.get("best_eval_loss"),
        pid=status.get("pid"),
        worker_pids=status.get("worker_pids") or None,
        started_at=status.get("started_at"),
        updated_at=status.get("updated_at"),
        error=status.get("error"),
        stop_reason=status.get("stop_reason"),
        resumable=state in {"failed", "stopped"} and status.get("stop_reason") != "watchdog",
        last_checkpoint=f"{rel}/{ckpt[-1][1].name}" if ckpt else None,
        adapter=f"{rel}/adapter" if (folder / "adapter" / "adapter_config.json").is_file() else None,
        report=f"{rel}/report.md" if (folder / "report.md").is_file() else None,
        diagnosis=status.get("diagnosis") if state in TERMINAL else None,
        folder=rel,
    )


@tool(effect="read", stage="train")
def run_status(req: RunStatusRequest) -> RunStatusResult:
    """Report a local training run's state (queued, running, completed, failed, stopped), progress, latest metrics
    (loss, eval loss, learning rate, grad norm, tokens/s, memory), checkpoints and adapter; without a run id, list
    every run in runs/.

    Use it to poll a run that launch_lora started; it reads the run folder and answers at once. A run
    whose process was killed shows as failed and resumable (resume_run continues from its last checkpoint)."""
    ws = current()
    if req.run_id:
        folder = run_dir(ws, req.run_id)
        lines = tail(folder / "train.log", req.log_lines) if req.log_lines else []
        return RunStatusResult(runs=[run_info(ws, folder)], log_tail=lines)
    root = runs_root(ws)
    folders = sorted((p.parent for p in root.glob("*/config.json")), key=lambda p: p.name)
    return RunStatusResult(runs=[run_info(ws, f) for f in folders[-50:]], log_tail=[])


def not_provider(status: dict[str, Any], run_id: str) -> None:
    """Provider runs (launch_provider_job) have no local process to signal or restart."""
    if status.get("provider"):
        raise ToolError(
            "provider_run",
            f"run {run_id} is a {status['provider']} fine-tuning job, not a local run",
            "poll it with provider_job_status; a retried launch_provider_job reuses its job",
        )


__all__ = [
    "RUNS_DIR",
    "checkpoints",
    "effective_status",
    "live_pids",
    "not_provider",
    "now_iso",
    "pid_alive",
    "read_json",
    "run_dir",
    "run_info",
    "run_status",
    "runs_root",
    "update_status",
    "write_json",
]
