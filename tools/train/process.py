"""The processes of a local run: its lock (one worker per run) and starting the worker (one process, or several
through ``accelerate launch``).

``run.lock`` in the run folder is flock-ed by whoever starts a worker and handed to the worker, which holds it
until it ends (the kernel lets go of it even after kill -9): a second start of the same run finds it held and is
refused. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import write_text_atomic
from tools.plan.scale import DEEPSPEED, parse_main_address
from tools.train.distributed import (
    ACCELERATE_CONFIG,
    DEEPSPEED_CONFIG,
    FsdpSettings,
    accelerate_config,
    deepspeed_config,
)
from tools.train.runs import RUNS_DIR, now_iso, read_json

LOCK_FILE = "run.lock"


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


def lock_name(node_rank: int = 0) -> str:
    """The lock file of one node's launcher: ``run.lock`` on node 0, ``run.node<R>.lock`` on node R (the run folder
    is shared by the nodes, each holds its own)."""
    return LOCK_FILE if node_rank == 0 else f"run.node{node_rank}.lock"


def log_name(node_rank: int = 0) -> str:
    """Where a node's launcher and ranks print: ``train.log`` on node 0, ``train.node<R>.log`` on node R."""
    return "train.log" if node_rank == 0 else f"train.node{node_rank}.log"


def take_lock(folder: Path, node_rank: int = 0) -> int:
    """Lock the node's lock file (non-blocking) and return its descriptor; LockHeld when a worker holds it."""
    name = lock_name(node_rank)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(f"another worker holds {folder.name}/{name}: the run is already training") from None
    return fd


def hold_lock(folder: Path, fd: int | None = None) -> RunLock:
    """The lock a worker holds: the descriptor its launcher handed it (already locked), or a new one."""
    return RunLock(fd if fd is not None else take_lock(folder))


def lock_run(folder: Path, run_id: str, wait_s: float = 0.0, node_rank: int = 0) -> int:
    """:func:`take_lock` as a tool error: one worker per run and node, a second start is refused. ``wait_s``: how
    long to wait for a worker that has said it ended but whose process (a multi-process launcher) is still exiting."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return take_lock(folder, node_rank)
        except LockHeld:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    raise ToolError(
        "run_active",
        f"run {run_id} already has a worker: {RUNS_DIR}/{run_id}/{lock_name(node_rank)} is held",
        f"wait for it (`finetune runs status {run_id}`) or stop it (`finetune runs stop {run_id}`)",
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(folder: Path, *, resume: bool, lock_fd: int | None = None, node_rank: int = 0) -> list[str]:
    """The command that trains the run on this node: the worker itself for one process, else ``accelerate launch``
    with the run's own config file (``accelerate_config.yaml``, rewritten from config.json at every start, so a
    user's default accelerate config never changes a run). On several nodes each writes the same files into the
    shared run folder and adds its machine rank on the command line."""
    config = read_json(folder / "config.json")
    procs = int(config.get("num_processes") or 1)
    nodes = int(config.get("nodes") or 1)
    worker = ["-m", "tools.train.worker", str(folder)] + (["--resume"] if resume else [])
    worker += ["--lock-fd", str(lock_fd)] if lock_fd is not None else []
    if procs * nodes == 1:
        return [sys.executable, *worker]
    yaml_path = folder / ACCELERATE_CONFIG
    _write_launch_files(folder, config)  # the same bytes on every node (the machine rank is on the command line)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(yaml_path)]
    cmd += ["--num_processes", str(procs * nodes)]
    if nodes == 1:
        return [*cmd, "--main_process_port", str(_free_port()), *worker]
    host, port = parse_main_address(str(config.get("main_address") or ""))
    cmd += ["--num_machines", str(nodes), "--machine_rank", str(node_rank)]
    return [*cmd, "--main_process_ip", host, "--main_process_port", str(port), *worker]


def _write_launch_files(folder: Path, config: dict[str, Any]) -> None:
    """accelerate_config.yaml (and deepspeed_config.json for a DeepSpeed run) from config.json's launch keys."""
    import json

    import yaml

    procs, nodes = int(config.get("num_processes") or 1), int(config.get("nodes") or 1)
    sharding = config.get("sharding") or "ddp"
    fsdp = FsdpSettings.model_validate(config.get("fsdp") or {}) if sharding == "fsdp" else None
    host, port = parse_main_address(str(config["main_address"])) if nodes > 1 else (None, None)
    ds_file = None
    if sharding in DEEPSPEED:
        ds_file = DEEPSPEED_CONFIG  # relative to the run folder, every rank's working directory on every node
        ds = deepspeed_config(sharding, bool(config.get("offload")))
        write_text_atomic(folder / DEEPSPEED_CONFIG, json.dumps(ds, indent=2) + "\n")
    cfg = accelerate_config(
        procs * nodes, sharding, fsdp, nodes=nodes, main_host=host, main_port=port, deepspeed_file=ds_file
    )
    write_text_atomic(folder / ACCELERATE_CONFIG, yaml.safe_dump(cfg, sort_keys=True))


def spawn_worker(folder: Path, *, resume: bool, lock_fd: int | None = None, node_rank: int = 0) -> int:
    """Start the run's training detached in its own session (see :func:`launch_command`), output appended to
    train.log; its pid (the launcher's when there are several processes). The run's lock (``lock_fd``, taken by
    the caller) passes to the new process, which holds it until it ends; this process lets go of it."""
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["HF_HUB_OFFLINE"] = "1"  # the model was found locally at launch; training never downloads
    cmd = launch_command(folder, resume=resume, lock_fd=lock_fd, node_rank=node_rank)
    with (folder / log_name(node_rank)).open("ab") as log:
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


__all__ = [
    "LOCK_FILE",
    "LockHeld",
    "RunLock",
    "hold_lock",
    "launch_command",
    "lock_name",
    "log_name",
    "lock_run",
    "spawn_worker",
    "take_lock",
]
