"""The training process of a local run: ``python -m tools.train.worker RUN_DIR [--resume] [--lock-fd N]``.

launch_lora writes ``RUN_DIR/config.json``, takes the run's lock and starts this module detached, handing it the
lock. The worker trains with TRL's trainers (tools.train.engine) on our rendered rows (tools.train.data), with the
TRL configuration rendered from the plan (tools.plan.trl_config, kept as ``trl_config.yaml``), and keeps the run
contract through a TrainerCallback (tools.train.callbacks): ``metrics.jsonl``, ``status.json``, the watchdog, a
clean stop on SIGTERM. The Trainer writes ``checkpoint-<step>/`` (the last K kept) and resumes from one:
adapter, optimizer, scheduler, RNG states and the position in the data, so a killed run resumed reaches the
adapter of an uninterrupted one. At the end: ``adapter/``, ``trainer_state.json``, ``report.md`` with the loss
diagnosis, and ``merged/`` when asked.

Under ``accelerate launch`` (several processes) the Trainer runs DDP; rank 0 writes the run's files.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.train.callbacks import STOP, request_stop
from tools.train.process import LockHeld, hold_lock
from tools.train.runs import now_iso, read_json, update_status
from tools.train.session import Session, dist_env

__all__ = ["main", "request_stop", "run_folder"]


def _on_signal(signum: int, _frame: Any) -> None:
    request_stop()
    print(f"[{now_iso()}] signal {signum}: stopping cleanly after this step", flush=True)


def run_folder(
    folder: Path, *, resume: bool = False, lock_fd: int | None = None, reset_stop: bool = True
) -> dict[str, Any]:
    """Train the run in ``folder`` in this process; returns the final status.

    One process holds the run's lock (``run.lock``): the one given ``lock_fd`` by launch_lora/resume_run, or this
    one. Under ``accelerate launch`` the launcher holds it and the ranks train."""
    if reset_stop:
        STOP["flag"] = False
    folder = folder.resolve()
    rank, world = dist_env()
    lock = None
    if world == 1:
        try:
            lock = hold_lock(folder, lock_fd)
        except LockHeld as held:
            print(f"error (run_active): {held}", file=sys.stderr, flush=True)
            return {"state": "refused", "error": str(held)}
    try:
        return _run(folder, resume, rank, world)
    finally:
        if lock is not None:
            lock.close()


def _run(folder: Path, resume: bool, rank: int, world: int) -> dict[str, Any]:
    config = read_json(folder / "config.json")
    if not config:
        return update_status(folder, state="failed", error="config.json is missing or invalid", finished_at=now_iso())
    if rank == 0:
        update_status(folder, state="running", error=None, **({"pid": os.getpid()} if world == 1 else {}))
    session = Session(folder, config, rank, world)
    try:
        return session.finish(session.train(resume=resume))
    except ToolError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr, flush=True)
        if rank != 0:
            return {"state": "failed", "rank": rank}
        hint = f" ({exc.hint})" if exc.hint else ""
        return update_status(folder, state="failed", error=f"{exc.code}: {exc.message}{hint}", finished_at=now_iso())
    except Exception as exc:  # noqa: BLE001 - every failure ends up in status.json
        traceback.print_exc()
        if rank != 0:
            return {"state": "failed", "rank": rank}
        return update_status(
            folder, state="failed", error=f"{type(exc).__name__}: {str(exc)[:500]}", finished_at=now_iso()
        )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    lock_fd = None
    if "--lock-fd" in args:
        i = args.index("--lock-fd")
        lock_fd = int(args[i + 1])
        del args[i : i + 2]
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 1:
        print("usage: python -m tools.train.worker RUN_DIR [--resume] [--lock-fd N]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    status = run_folder(Path(paths[0]), resume=resume, lock_fd=lock_fd, reset_stop=False)
    return 0 if status.get("state") in {"completed", "stopped"} else 1


if __name__ == "__main__":
    sys.exit(main())
