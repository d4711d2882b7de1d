"""The tamper-evident audit trail of every tool call (the ``audit_log`` tool in :mod:`tools.audit` reads it).

``.finetune/audit.jsonl`` is append-only. Its first record is a genesis record naming the workspace's id;
every record carries ``seq`` (1, 2, 3, ...), the workspace id, the hash of the previous record (``prev``),
its own hash over its canonical JSON, and an HMAC of that hash with the workspace's key, which lives
outside the workspace (:mod:`tools.core.audit_keys`). The head file holds the last ``seq`` and hash,
signed the same way, which is what reveals records cut off the end.

What this catches: an edited, deleted, inserted or reordered line (the chain breaks at that line); records
cut off the end (the head); a rewritten chain, forged records or a rewritten head (without the key the
signatures cannot be made); a deleted head; another workspace's log swapped in (its id is not this
workspace's). On a machine without the key only the chain is checked, and ``verify`` says so; an anchor
from ``finetune audit export`` kept elsewhere proves the log up to that point either way.

Crash safety: a record is appended and synced, then the head is replaced atomically. A crash between the
two leaves one signed record past the head, which the next append adopts and ``verify`` reports as an
interrupted write, not as tampering; a record cut short by a crash is dropped the same way. Appends take a
file lock, so processes writing at once never interleave or lose a record.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock
from pydantic import BaseModel

from tools import __version__
from tools.core.audit_keys import KeyStore, sign, signature_ok
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, write_text_atomic

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
LOCK_FILE = "audit.lock"
GENESIS = "0" * 64
GENESIS_TOOL = "(genesis)"

Outcome = Literal["ok", "error"]


class FileDigest(BaseModel):
    """A file argument as the audit log keeps it: where it was and what its bytes hashed to."""

    arg: str
    role: Literal["input", "output"]
    path: str
    sha256: str | None
    bytes: int | None


class AuditRecord(BaseModel):
    seq: int
    time: str
    tool: str
    actor: str
    args_sha256: str
    args_given: list[str]
    files: list[FileDigest]
    outcome: Outcome
    error_code: str | None
    duration_ms: int
    version: str
    workspace_id: str | None = None
    replaces: str | None = None
    prev: str
    hash: str
    mac: str | None = None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(fields: dict[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k not in ("hash", "mac")}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def head_message(seq: int, hash_: str, workspace_id: str | None) -> str:
    return f"head:{seq}:{hash_}:{workspace_id}"


class Head(BaseModel):
    seq: int
    hash: str
    workspace_id: str | None = None
    mac: str | None = None


class Anchor(BaseModel):
    """What ``finetune audit export`` hands out to keep elsewhere (a ticket, a commit, an e-mail)."""

    workspace_id: str | None
    seq: int
    hash: str
    mac: str | None
    exported_at: str


class AuditLog:
    """The audit file of one workspace."""

    def __init__(self, workspace: Workspace, keys: KeyStore | None = None) -> None:
        self.root = workspace.root
        self.dir = workspace.state_dir
        self.path = self.dir / AUDIT_FILE
        self.head_path = self.dir / HEAD_FILE
        self.keys = keys or KeyStore()
        self._lock = FileLock(str(self.dir / LOCK_FILE), timeout=60)

    def append(
        self,
        *,
        tool_name: str,
        actor: str,
        args_sha256: str,
        args_given: list[str],
        files: list[FileDigest],
        outcome: Outcome,
        error_code: str | None,
        duration_ms: int,
    ) -> AuditRecord:
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            head, key = self._head_for_append()
            fields = self._fields(
                head, key, tool=tool_name, actor=actor, args_sha256=args_sha256, args_given=sorted(args_given),
                files=[f.model_dump() for f in files], outcome=outcome, error_code=error_code,
                duration_ms=duration_ms,
            )  # fmt: skip
            self._commit(fields, key)
            return AuditRecord.model_validate(fields)

    # -- writing ---------------------------------------------------------------------------------

    def _fields(self, head: Head, key: bytes | None, **values: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "seq": head.seq + 1,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **values,
            "version": __version__,
            "workspace_id": head.workspace_id,
            "prev": head.hash,
        }
        fields["hash"] = record_hash(fields)
        fields["mac"] = sign(key, fields["hash"]) if key else None
        return fields

    def _commit(self, fields: dict[str, Any], key: bytes | None) -> None:
        line = (canonical_json(fields) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._write_head(fields["seq"], fields["hash"], fields["workspace_id"], key)

    def _write_head(self, seq: int, hash_: str, workspace_id: str | None, key: bytes | None) -> None:
        mac = sign(key, head_message(seq, hash_, workspace_id)) if key else None
        head = {"seq": seq, "hash": hash_, "workspace_id": workspace_id, "mac": mac}
        write_text_atomic(self.head_path, canonical_json(head))

    def _start(self) -> tuple[Head, bytes | None]:
        """Write the genesis record of a new log (remembering an earlier log of this workspace that is gone)."""
        earlier = self.keys.identity(self.root)
        workspace_id, key = self.keys.create(self.root)
        start = Head(seq=0, hash=GENESIS, workspace_id=workspace_id)
        fields = self._fields(
            start, key, tool=GENESIS_TOOL, actor="finetune", args_sha256="", args_given=[], files=[],
            outcome="ok", error_code=None, duration_ms=0,
        )  # fmt: skip
        fields["replaces"] = earlier
        fields["hash"] = record_hash(fields)
        fields["mac"] = sign(key, fields["hash"]) if key else None
        self._commit(fields, key)
        return Head(seq=1, hash=fields["hash"], workspace_id=workspace_id), key

    def _head_for_append(self) -> tuple[Head, bytes | None]:
        """The head to chain the next record to, after recovering an interrupted write; refuses a log whose
        end no longer matches its head (appending would bury the evidence)."""
        self._drop_partial_tail()
        last = _last_record(self.path)
        head = self._read_head()
        if last is None and head is None:
            return self._start()
        if head is None:
            if last is not None and last.get("seq") == 1 and last.get("tool") == GENESIS_TOOL:
                head = Head(seq=0, hash=GENESIS, workspace_id=last.get("workspace_id"))
            else:
                raise self._broken("the head file is missing")
        key = self.keys.key(head.workspace_id) if head.workspace_id else None
        if key and not signature_ok(key, head_message(head.seq, head.hash, head.workspace_id), head.mac) and head.seq:
            raise self._broken("the head file's signature does not match")
        if last is not None and last.get("seq") == head.seq + 1 and last.get("prev") == head.hash:
            if record_hash(last) == last.get("hash") and (
                key is None or signature_ok(key, last["hash"], last.get("mac"))
            ):
                self._write_head(
                    last["seq"], last["hash"], last.get("workspace_id"), key
                )  # adopt the interrupted write
                head = Head(seq=last["seq"], hash=last["hash"], workspace_id=last.get("workspace_id"))
        if last is None or last.get("seq") != head.seq or last.get("hash") != head.hash:
            raise self._broken("the last record does not match the head")
        return head, key

    def _broken(self, what: str) -> ToolError:
        return ToolError(
            "audit_corrupt",
            f"{self.path}: {what}, so no record can be chained to it",
            "run `finetune audit verify` to see what changed; keep the file as evidence and move "
            f"{self.path.name} and {self.head_path.name} aside to start a new log",
        )

    def _drop_partial_tail(self) -> None:
        """Cut a record left half-written by a crash (the bytes after the last newline, never committed)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with self.path.open("rb+") as handle:
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            keep = _offset_after_last_newline(handle, size)
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())

    def _read_head(self) -> Head | None:
        try:
            return Head.model_validate_json(self.head_path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            raise self._broken(f"the head file {self.head_path.name} is not valid") from None

    # -- reading ---------------------------------------------------------------------------------

    def records(self, limit: int | None = None) -> list[AuditRecord]:
        """The last ``limit`` call records that parse (all of them when ``limit`` is None); no genesis."""
        if not self.path.is_file():
            return []
        out: list[AuditRecord] = []
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = AuditRecord.model_validate_json(line)
                except ValueError:
                    continue
                if record.tool != GENESIS_TOOL:
                    out.append(record)
        return out[-limit:] if limit else out

    def anchor(self) -> Anchor:
        head = self._read_head()
        if head is None:
            raise self._broken("there is no head to export")
        return Anchor(
            workspace_id=head.workspace_id, seq=head.seq, hash=head.hash, mac=head.mac,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )  # fmt: skip


def _offset_after_last_newline(handle: Any, size: int) -> int:
    pos = size
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        handle.seek(pos)
        chunk = handle.read(step)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return pos + index + 1
    return 0


def _last_record(path: Path) -> dict[str, Any] | None:
    """The last complete line of the log as JSON (None for an empty or missing log)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with path.open("rb") as handle:
        end = _offset_after_last_newline(handle, size)
        start = _offset_after_last_newline(handle, end - 1) if end > 1 else 0
        handle.seek(start)
        raw = handle.read(end - start)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
