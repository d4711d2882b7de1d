"""Where tools may read and write: the workspace root and the path policy around it.

Every path a tool receives is resolved here. A path that leaves the workspace (``..``, an absolute
path elsewhere, a symlink that points out) is refused, inputs are never opened for writing, and
outputs are written atomically (a temporary file in the same folder, then ``os.replace``) so a
crash never leaves a half-written file behind. Outputs are written through folder descriptors opened
without following symlinks from the workspace root down, so a folder swapped for a link between the
check and the write is refused instead of written through. The tool's own state (``.finetune/``, the
audit trail above all) is never a place a caller may name as an output.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tools.core.errors import ToolError

STATE_DIR = ".finetune"
CALLER_WRITABLE_STATE = ("reports",)
"""Sub-folders of ``.finetune/`` a caller may name as an output (reports); the rest is the tool's own state."""


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _default_file_mode()
"""Mode for files we write: what open() would give, not mkstemp's private 0600."""


class Workspace:
    """A root folder; every path argument must resolve inside it."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        chosen = Path(root) if root is not None else Path(os.environ.get("FINETUNE_WORKSPACE", "."))
        if not chosen.is_dir():
            raise ToolError(
                "workspace_missing",
                f"workspace root {str(chosen)!r} is not a folder",
                "create it, or pass --workspace / set FINETUNE_WORKSPACE to an existing folder",
            )
        self.root = chosen.resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def state_dir(self) -> Path:
        """The hidden folder for the tool's own state (audit log, run registry)."""
        return self.root / STATE_DIR

    def relative(self, path: Path) -> str:
        """A path inside the workspace as a POSIX string relative to the root (for reports, logs)."""
        return path.resolve().relative_to(self.root).as_posix()

    def resolve(self, raw: str | os.PathLike[str], *, what: str = "path") -> Path:
        """Resolve ``raw`` against the root and refuse anything that ends up outside it.

        Symlinks are followed before the check, so a link inside the workspace that points out
        is refused too.
        """
        text = os.fspath(raw)
        if not isinstance(text, str) or not text.strip():
            raise ToolError("path_empty", f"{what} is empty", "give a file path inside the workspace")
        if "\x00" in text:
            raise ToolError("path_invalid", f"{what} contains a NUL byte", "give a plain file path")
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError) as exc:
            raise ToolError(
                "path_invalid", f"{what} {text!r} cannot be resolved: {exc}", "check for symlink loops"
            ) from exc
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise ToolError(
                "path_outside_workspace",
                f"{what} {text!r} resolves to {str(resolved)!r}, outside the workspace {str(self.root)!r}",
                "copy the file into the workspace, or run from (or pass --workspace) a folder that contains it",
            )
        return resolved

    def input_file(self, raw: str | os.PathLike[str], *, what: str = "input file") -> Path:
        """An existing regular file inside the workspace, for reading."""
        path = self.resolve(raw, what=what)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise ToolError(
                "file_not_found",
                f"{what} {os.fspath(raw)!r} does not exist",
                f"check the path; it is resolved against {str(self.root)!r}",
            ) from None
        except OSError as exc:
            raise ToolError(
                "path_invalid", f"{what} {_shown(raw)!r} cannot be opened: {exc.strerror}", "give a shorter, plain path"
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(
                "not_a_file",
                f"{what} {_shown(raw)!r} is not a regular file (a folder, pipe or device)",
                "give a regular file",
            )
        if not os.access(path, os.R_OK):
            raise ToolError(
                "file_unreadable", f"{what} {_shown(raw)!r} cannot be read (permission denied)", "chmod u+r the file"
            )
        return path

    def input_dir(self, raw: str | os.PathLike[str], *, what: str = "input folder") -> Path:
        path = self.resolve(raw, what=what)
        if not path.is_dir():
            raise ToolError(
                "dir_not_found",
                f"{what} {os.fspath(raw)!r} is not an existing folder",
                f"check the path; it is resolved against {str(self.root)!r}",
            )
        return path

    def output_file(
        self,
        raw: str | os.PathLike[str],
        *,
        inputs: tuple[Path, ...] = (),
        what: str = "output file",
    ) -> Path:
        """A path to write a new file at; never one of ``inputs`` and never a folder."""
        path = self.resolve(raw, what=what)
        state = self.state_dir
        if path == state or (
            path.is_relative_to(state) and path.relative_to(state).parts[0] not in CALLER_WRITABLE_STATE
        ):
            raise ToolError(
                "output_in_state_dir",
                f"{what} {os.fspath(raw)!r} is inside {STATE_DIR}/, where the audit trail and run state live",
                f"choose a path outside {STATE_DIR}/ (reports may go to {STATE_DIR}/reports/)",
            )
        if path in {p.resolve() for p in inputs}:
            raise ToolError(
                "output_is_input",
                f"{what} {os.fspath(raw)!r} is also an input",
                "inputs are never changed in place; choose a new file name",
            )
        if path.is_dir():
            raise ToolError("output_is_dir", f"{what} {os.fspath(raw)!r} is a folder", "give a file name inside it")
        return path


SMALL_FILE_LIMIT = 1 << 20
"""Bytes a small input (tool arguments, an answers file, an anchor) may have: it is read whole."""


def read_small_text(ws: Workspace, raw: str | os.PathLike[str], *, what: str, limit: int = SMALL_FILE_LIMIT) -> str:
    """A small text file inside the workspace, read whole: a regular file (never a pipe or device, so no
    hang), at most ``limit`` bytes, UTF-8; anything else is a clear error naming the file."""
    path = ws.input_file(raw, what=what)
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ToolError(
            "file_too_large",
            f"{what} {_shown(raw)!r} is larger than {limit:,} bytes",
            f"a {what} is small; check you gave the right file",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ToolError(
            "wrong_encoding",
            f"{what} {_shown(raw)!r} line {line}: not UTF-8 text (a binary file?)",
            "save it as UTF-8 text",
        ) from None


def _shown(raw: str | os.PathLike[str], limit: int = 120) -> str:
    text = os.fspath(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_current: contextvars.ContextVar[Workspace | None] = contextvars.ContextVar("finetune_workspace", default=None)


def current() -> Workspace:
    """The workspace of the tool call in progress (the current directory when none is set)."""
    ws = _current.get()
    return ws if ws is not None else Workspace()


@contextlib.contextmanager
def using(ws: Workspace) -> Iterator[Workspace]:
    """Make ``ws`` the workspace for tool code running inside the block."""
    token = _current.set(ws)
    try:
        yield ws
    finally:
        _current.reset(token)


def _open_folder(folder: Path) -> int:
    """A descriptor of ``folder``, made if missing. Inside the current workspace every component below the
    root is opened with O_NOFOLLOW, so a folder swapped for a symlink after the path was checked is refused."""
    flags = os.O_RDONLY | os.O_DIRECTORY
    ws = _current.get()
    root = ws.root if ws is not None and folder.is_relative_to(ws.root) else None
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, flags)
    fd = os.open(root, flags)
    try:
        for part in folder.relative_to(root).parts:
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                child = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise ToolError(
                    "path_changed",
                    f"{folder.relative_to(root).as_posix()}: {part!r} is no longer a folder inside the workspace "
                    f"({exc.strerror}); it may have been replaced by a link",
                    "check the output folder and run again; nothing was written",
                ) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one rename.

    The temporary file and the rename go through a descriptor of the folder (see :func:`_open_folder`), and
    the folder is synced after the rename, so the new file survives a crash once this returns.
    """
    binary = "b" in mode
    dir_fd = _open_folder(path.parent)
    tmp_name = f".{path.name[:200]}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_writer(path) as handle:
        handle.write(text)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_writer(path, "wb") as handle:
        handle.write(data)
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks so large datasets stay out of memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
