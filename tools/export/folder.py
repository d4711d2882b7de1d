"""The export folder: always a new one, built beside its final place and renamed into it when complete, so a
failed or interrupted export leaves nothing that looks finished."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from tools.core.errors import ToolError
from tools.core.workspace import STATE_DIR, Workspace
from tools.export.models import ExportedFile

EXPORTS_DIR = "exports"


def new_folder(ws: Workspace, raw: str | None, default: str) -> Path:
    """The folder to create (``raw`` or ``exports/<default>``); ToolError when it exists or is not allowed."""
    label = raw or f"{EXPORTS_DIR}/{default}"
    path = ws.resolve(label, what="export folder")
    if path == ws.state_dir or path.is_relative_to(ws.state_dir):
        raise ToolError(
            "output_in_state_dir",
            f"export folder {label!r} is inside {STATE_DIR}/, where the audit trail and run state live",
            "choose a folder outside it (the default is exports/<run id>/<target>)",
        )
    if path.exists():
        raise ToolError(
            "export_exists",
            f"export folder {ws.relative(path)!r} already exists",
            "exports never overwrite: give another out_dir (--out), or delete the old folder yourself",
        )
    return path


@contextlib.contextmanager
def staged(final: Path) -> Iterator[Path]:
    """A temporary sibling folder that becomes ``final`` when the block ends without an error."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            raise ToolError("export_exists", f"{final.name} appeared while exporting", "run the export again")
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def listing(ws: Workspace, folder: Path) -> list[ExportedFile]:
    """Every file in ``folder``, recursively, with its size."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [ExportedFile(path=ws.relative(p), bytes=p.stat().st_size) for p in files]


__all__ = ["EXPORTS_DIR", "listing", "new_folder", "staged"]
