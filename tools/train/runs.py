"""Run folders (``runs/<run-id>/``) and the tools that watch and steer them: run_status, stop_run, resume_run.

A run folder holds ``config.json`` (the plan and data, enough to reproduce), ``status.json`` (state,
progress, latest metrics, pid, error), ``metrics.jsonl`` (one line per logged step), an HF-compatible
``trainer_state.json``, ``checkpoint-<step>/`` folders (written atomically, the last K kept),
``adapter/``, ``report.md`` and ``train.log`` (the worker's stdout and stderr).

The training itself runs in its own process (``python -m tools.train.worker RUN_DIR``); these tools
only read the folder and send signals, so they answer at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, current, sha256_file, write_text_atomic
from tools.train.checkpoint import complete_checkpoints

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


# ----------------------------------------------------------------------------- the run lock


class LockHeld(Exception):
    """Another process holds the run's lock: a worker is training it."""


class RunLock:
    """An open, flock-ed ``run.lock``; released when closed or when its process ends (even by kill -9)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def take_lock(folder: Path) -> int:
    """Lock ``folder/run.lock`` (non-blocking) and return its descriptor; LockHeld when a worker holds it."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(f"another worker holds {folder.name}/{LOCK_FILE}: the run is already training") from None
    return fd


def hold_lock(folder: Path, fd: int | None = None) -> RunLock:
    """The lock a worker holds: the descriptor its launcher handed it (already locked), or a new one."""
    return RunLock(fd if fd is not None else take_lock(folder))


def lock_run(folder: Path, run_id: str, wait_s: float = 0.0) -> int:
    """:func:`take_lock` as a tool error: one worker per run, a second start is refused. ``wait_s``: how long to
    wait for a worker that has said it ended but whose process (a multi-process launcher) is still exiting."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return take_lock(folder)
        except LockHeld:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    raise ToolError(
        "run_active",
        f"run {run_id} already has a worker: {RUNS_DIR}/{run_id}/{LOCK_FILE} is held",
        f"wait for it (`finetune runs status {run_id}`) or stop it (`finetune runs stop {run_id}`)",
    )


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(folder: Path, *, resume: bool, lock_fd: int | None = None) -> list[str]:
    """The command that trains the run: the worker itself for one process, else ``accelerate launch`` with the run's
    own config file (``accelerate_config.yaml``, rewritten from config.json at every start, so a user's default
    accelerate config never changes a run)."""
    import yaml

    from tools.train.distributed import ACCELERATE_CONFIG, FsdpSettings, accelerate_config

    config = read_json(folder / "config.json")
    procs = int(config.get("num_processes") or 1)
    worker = ["-m", "tools.train.worker", str(folder)] + (["--resume"] if resume else [])
    worker += ["--lock-fd", str(lock_fd)] if lock_fd is not None else []
    if procs == 1:
        return [sys.executable, *worker]
    sharding = config.get("sharding") or "ddp"
    fsdp = FsdpSettings.model_validate(config.get("fsdp") or {}) if sharding == "fsdp" else None
    yaml_path = folder / ACCELERATE_CONFIG
    write_text_atomic(yaml_path, yaml.safe_dump(accelerate_config(procs, sharding, fsdp), sort_keys=True))
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(yaml_path),
        "--num_processes",
        str(procs),
        "--main_process_port",
        str(_free_port()),
        *worker,
    ]


def spawn_worker(folder: Path, *, resume: bool, lock_fd: int | None = None) -> int:
    """Start the run's training detached in its own session (see :func:`launch_command`), output appended to
    train.log; its pid (the launcher's when there are several processes). The run's lock (``lock_fd``, taken by
    the caller) passes to the new process, which holds it until it ends; this process lets go of it."""
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["HF_HUB_OFFLINE"] = "1"  # the model was found locally at launch; training never downloads
    cmd = launch_command(folder, resume=resume, lock_fd=lock_fd)
    with (folder / "train.log").open("ab") as log:
        log.write(f"\n=== {now_iso()} {'resume' if resume else 'start'}: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(folder),
            env=env,
            start_new_session=True,
            close_fds=True,
            pass_fds=(lock_fd,) if lock_fd is not None else (),
        )
    if lock_fd is not None:
        os.close(lock_fd)
    return proc.pid


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


def _not_provider(status: dict[str, Any], run_id: str) -> None:
    """Provider runs (launch_provider_job) have no local process to signal or restart."""
    if status.get("provider"):
        raise ToolError(
            "provider_run",
            f"run {run_id} is a {status['provider']} fine-tuning job, not a local run",
            "poll it with provider_job_status; a retried launch_provider_job reuses its job",
        )


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


@tool(effect="write", stage="train", destructive=True)
def stop_run(req: StopRunRequest) -> StopRunResult:
    """Stop a running local training run cleanly: it finishes the current step, writes a checkpoint and the adapter so
    far, and ends as stopped (resume_run continues it).

    Sends SIGTERM to the run's process (to every rank of a multi-process run); does nothing to a run that
    already ended."""
    ws = current()
    folder = run_dir(ws, req.run_id)
    status = effective_status(folder)
    _not_provider(status, req.run_id)
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


class ResumeRunRequest(BaseModel):
    """The run to resume."""

    run_id: str = Field(description="A stopped, killed or failed run with a checkpoint.")
    confirm: StrictBool = Field(False, description="Must be true to start the process (resuming trains for minutes).")


class ResumeRunResult(BaseModel):
    run: RunInfo
    started: bool
    from_checkpoint: str | None
    message: str


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
    update_status(folder, pid=pid)
    return pid


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
    status = effective_status(folder)
    _not_provider(status, req.run_id)
    state = status.get("state")
    ckpt = checkpoints(folder)
    if state in {"queued", "running"}:
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
        return ResumeRunResult(
            run=run_info(ws, folder),
            started=False,
            from_checkpoint=start,
            message=f"would resume run {req.run_id} {where}. "
            + say(
                "confirm_to_start",
                tool="resume_run",
                command=f"finetune runs resume {req.run_id}",
                chat="resume it",
                action="resume it",
            ),
        )
    pid = _restart(folder, req.run_id)
    return ResumeRunResult(
        run=run_info(ws, folder),
        started=True,
        from_checkpoint=start,
        message=f"resuming run {req.run_id} "
        + (f"from {start}" if start else "from the start")
        + f" (pid {pid}); "
        + say("watch_run", run_id=req.run_id),
    )


__all__ = [
    "RUNS_DIR",
    "LockHeld",
    "RunLock",
    "check_run_data",
    "checkpoints",
    "effective_status",
    "hold_lock",
    "lock_run",
    "take_lock",
    "launch_command",
    "live_pids",
    "read_json",
    "run_dir",
    "run_info",
    "run_status",
    "resume_run",
    "spawn_worker",
    "stop_run",
    "update_status",
    "write_json",
]
