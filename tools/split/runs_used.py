"""Which files the training runs of the workspace used, from the data path and sha256 in runs/<id>/config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tools.core.workspace import Workspace, sha256_file

RUNS_FOLDER = "runs"
"""Where launch_lora keeps its runs (tools.train.runs.RUNS_DIR; train sits above split, so it is not imported)."""


@dataclass(frozen=True)
class UsedFile:
    run_id: str
    role: str  # "data" or "eval_data"
    path: Path | None
    sha256: str | None


def used_files(ws: Workspace) -> list[UsedFile]:
    """Every data and eval-data file a run recorded; unreadable configs are skipped (they name nothing)."""
    out: list[UsedFile] = []
    root = ws.root / RUNS_FOLDER
    if not root.is_dir():
        return out
    for config in sorted(root.glob("*/config.json")):
        try:
            data = json.loads(config.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for role in ("data", "eval_data"):
            entry = data.get(role)
            if not isinstance(entry, dict):
                continue
            raw = entry.get("path")
            path = Path(raw) if isinstance(raw, str) and raw else None
            if path is not None and not path.is_absolute():
                path = ws.root / path
            sha = entry.get("sha256") if isinstance(entry.get("sha256"), str) else None
            out.append(UsedFile(config.parent.name, role, path.resolve() if path else None, sha))
    return out


def used_by(target: Path, used: list[UsedFile]) -> tuple[UsedFile, bool] | None:
    """The run record of an existing ``target`` (by its path or its content), and whether its bytes still match."""
    if not used or not target.is_file():
        return None
    resolved = target.resolve()
    digest = sha256_file(target)
    for u in used:
        if u.sha256 == digest:
            return u, True
    for u in used:
        if u.path == resolved:
            return u, False
    return None
