"""A run over several nodes: one run folder on shared storage, named in advance, that every node launches into.

Node 0 creates ``runs/<run_name>/`` (config.json, status.json) as for any run; node R > 0 waits for that
config.json, checks that it describes the same launch (nodes, processes per node, main address), and starts its
own ranks on it with its machine rank, holding ``run.node<R>.lock`` and printing to ``train.node<R>.log``.
``node<R>.json`` records that node's launcher (pid, host), for people and for stop/resume on that machine.
Only global rank 0 writes the run's files (status, metrics, checkpoints, adapter).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.train.runs import RUN_ID, RUNS_DIR, now_iso, read_json, runs_root, write_json

POLL_S = 0.5


def node_file(node_rank: int) -> str:
    return f"node{node_rank}.json"


def shared_run_id(run_name: str | None, nodes: int) -> str:
    """The run id every node of a several-node launch agrees on: the run name itself (no time stamp)."""
    if not run_name:
        raise ToolError(
            "run_name_needed",
            f"a run over {nodes} nodes needs a run name: every node must launch into the same run folder",
            "add --run-name NAME (the same on every node), with the workspace on storage every node sees",
        )
    if not RUN_ID.match(run_name):
        raise ToolError(
            "bad_run_name",
            f"run name {run_name!r} cannot be a run id (letters, digits, '.', '_' and '-', starting with one of "
            "the first two)",
            "pick a name like qwen-sft-2nodes",
        )
    return run_name


def new_shared_folder(ws: Workspace, run_id: str) -> Path:
    """Node 0's new folder for ``run_id``; a ToolError when a run of that name exists (resume it instead)."""
    folder = runs_root(ws) / run_id
    if folder.exists():
        raise ToolError(
            "run_exists",
            f"{RUNS_DIR}/{run_id} already exists",
            f"resume it on every node (`finetune runs resume {run_id} --node-rank R --confirm`), or pick a new "
            "--run-name",
        )
    folder.mkdir(parents=True)
    return folder


def wait_for_run(ws: Workspace, run_id: str, wait_s: float) -> tuple[Path, dict[str, Any]]:
    """Node R > 0: the shared folder and its config.json once node 0 has written it (up to ``wait_s`` seconds)."""
    folder = runs_root(ws) / run_id
    deadline = time.monotonic() + wait_s
    while True:
        config = read_json(folder / "config.json")
        if config:
            return folder, config
        if time.monotonic() >= deadline:
            raise ToolError(
                "node0_not_found",
                f"{RUNS_DIR}/{run_id}/config.json did not appear within {wait_s:g} s: node 0 has not started the run, "
                "or this node does not see the same workspace",
                "start node 0 first (or together), with the workspace on storage shared by every node",
            )
        time.sleep(POLL_S)


def check_same_launch(config: dict[str, Any], run_id: str, nodes: int, procs: int, main_address: str | None) -> None:
    """Node R > 0 joins only the launch node 0 described: same node count, processes per node and main address."""
    theirs = (int(config.get("nodes") or 1), int(config.get("num_processes") or 1), config.get("main_address"))
    mine = (nodes, procs, main_address)
    if theirs != mine:
        raise ToolError(
            "node_launch_differs",
            f"{RUNS_DIR}/{run_id}/config.json was launched with nodes {theirs[0]}, {theirs[1]} processes per node, "
            f"main address {theirs[2]}; this node asked for nodes {mine[0]}, {mine[1]} processes, {mine[2]}",
            "launch every node with the same --nodes, --processes and --main-address (only --node-rank differs)",
        )


def record_node(folder: Path, node_rank: int, pid: int, *, resume: bool) -> None:
    write_json(
        folder / node_file(node_rank),
        {"node_rank": node_rank, "pid": pid, "host": platform.node(), "started_at": now_iso(), "resume": resume},
    )


__all__ = [
    "check_same_launch",
    "new_shared_folder",
    "node_file",
    "record_node",
    "shared_run_id",
    "wait_for_run",
]
