"""Write several files and a manifest as one set: a reader never finds a mix of an old and a new set.

Each file is first written in full to a temporary name in its folder. Then, in order: the old manifest is
removed (from here until the end no manifest vouches for the files), every old file of the set is removed,
the new files are renamed into place, and the new manifest is written last. A crash at any point leaves
either the old set with its manifest, or some new files and no manifest, never new files beside old ones.

Folders are opened from the workspace root one component at a time with ``O_NOFOLLOW`` and every file
operation goes through those folder descriptors, so a folder swapped for a symlink during the run makes the
write fail instead of landing outside the workspace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tools.core.errors import ToolError
from tools.core.workspace import FILE_MODE

TMP_SUFFIX = ".split-tmp"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW


def _moved(shown: str) -> ToolError:
    return ToolError(
        "path_changed",
        f"{shown}: a folder on the way became a symlink or a file while writing",
        "nothing was replaced; check that folder and run the command again",
    )


class _Folder:
    """A folder inside the workspace held open by descriptor, reached without following symlinks."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.shown = folder.relative_to(root).as_posix() or "."
        self.fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            for part in folder.relative_to(root).parts:
                self.fd = self._enter(part)
        except BaseException:
            os.close(self.fd)
            raise

    def _enter(self, part: str) -> int:
        try:
            fd = os.open(part, _DIR_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            os.mkdir(part, 0o777, dir_fd=self.fd)
            fd = os.open(part, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _moved(self.shown) from None
            raise
        os.close(self.fd)
        return fd

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)

    def sync(self) -> None:
        os.fsync(self.fd)

    def leftovers(self, name: str) -> list[str]:
        """Temporary files an interrupted earlier write of ``name`` left behind."""
        with os.scandir(self.fd) as entries:
            return [e.name for e in entries if e.name.startswith(f".{name}.") and e.name.endswith(TMP_SUFFIX)]

    def close(self) -> None:
        os.close(self.fd)


class FileSet:
    """Files written together with a manifest; use as ``with FileSet(root, paths, manifest) as fs``."""

    def __init__(self, root: Path, paths: list[Path], manifest: Path) -> None:
        self.root = root
        self.paths = paths
        self.manifest = manifest
        self._folders: dict[Path, _Folder] = {}
        self._tmp: dict[Path, str] = {}
        self.stale: list[str] = []

    def __enter__(self) -> FileSet:
        try:
            for path in [*self.paths, self.manifest]:
                if path.parent not in self._folders:
                    self._folders[path.parent] = _Folder(self.root, path.parent)
                folder = self._folders[path.parent]
                for name in folder.leftovers(path.name):
                    folder.unlink(name)
                    self.stale.append((path.parent / name).relative_to(self.root).as_posix())
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        for path, name in self._tmp.items():
            self._folders[path.parent].unlink(name)
        self._close()

    def _close(self) -> None:
        for folder in self._folders.values():
            folder.close()
        self._folders.clear()

    @contextlib.contextmanager
    def open(self, path: Path) -> Iterator[IO[bytes]]:
        """A new temporary file for ``path``, written in full and synced when the block ends."""
        folder = self._folders[path.parent]
        name = f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}"
        try:
            fd = os.open(name, _NEW_FILE, FILE_MODE, dir_fd=folder.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _moved(folder.shown) from None
            raise
        self._tmp[path] = name
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())

    def existing(self) -> list[Path]:
        """The files of the set (manifest included) that are there now."""
        return [p for p in [*self.paths, self.manifest] if self._folders[p.parent].exists(p.name)]

    def commit(self, manifest_bytes: bytes) -> None:
        """Swap the new set in: old manifest out, old files out, new files in, new manifest last."""
        missing = [p for p in self.paths if p not in self._tmp]
        if missing:
            raise RuntimeError(f"FileSet.commit before {missing[0]} was written")
        folders = {p.parent for p in [*self.paths, self.manifest]}
        self._folders[self.manifest.parent].unlink(self.manifest.name)
        self._folders[self.manifest.parent].sync()
        for path in self.paths:
            self._folders[path.parent].unlink(path.name)
        for parent in folders:
            self._folders[parent].sync()
        for path in self.paths:
            self._move_in(path)
        for parent in folders:
            self._folders[parent].sync()
        with self.open(self.manifest) as handle:
            handle.write(manifest_bytes)
        self._move_in(self.manifest)
        self._folders[self.manifest.parent].sync()

    def _move_in(self, path: Path) -> None:
        fd = self._folders[path.parent].fd
        os.rename(self._tmp[path], path.name, src_dir_fd=fd, dst_dir_fd=fd)
        del self._tmp[path]
