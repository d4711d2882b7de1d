"""The tamper-evident audit trail of every tool call (the ``audit_log`` tool in :mod:`tools.audit` reads it).

``.finetune/audit.jsonl`` is append-only. Each record carries ``seq`` (1, 2, 3, ...), the hash of
the previous record (``prev``) and its own hash over its canonical JSON, so an edited, deleted,
inserted or reordered line breaks the chain at that line. A small head file holds the last
``seq`` and hash, which is what reveals records cut off the end. Appends take a file lock, so
several processes writing at once never interleave or lose a record.

This detects accidental and naive tampering; someone who can rewrite the whole file and the head
can forge a new chain. For stronger guarantees, ship the head hash elsewhere (a ticket, a commit).
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
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, write_text_atomic

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
LOCK_FILE = "audit.lock"
GENESIS = "0" * 64

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
    prev: str
    hash: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(fields: dict[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


class Head(BaseModel):
    seq: int
    hash: str


class AuditLog:
    """The audit file of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.dir = workspace.state_dir
        self.path = self.dir / AUDIT_FILE
        self.head_path = self.dir / HEAD_FILE
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
            head = self._read_head()
            fields: dict[str, Any] = {
                "seq": head.seq + 1,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "tool": tool_name,
                "actor": actor,
                "args_sha256": args_sha256,
                "args_given": sorted(args_given),
                "files": [f.model_dump() for f in files],
                "outcome": outcome,
                "error_code": error_code,
                "duration_ms": duration_ms,
                "version": __version__,
                "prev": head.hash,
            }
            fields["hash"] = record_hash(fields)
            line = (canonical_json(fields) + "\n").encode("utf-8")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            write_text_atomic(self.head_path, canonical_json({"seq": fields["seq"], "hash": fields["hash"]}))
            return AuditRecord.model_validate(fields)

    def _read_head(self) -> Head:
        if self.head_path.is_file():
            try:
                return Head.model_validate_json(self.head_path.read_text("utf-8"))
            except ValueError:
                pass
        last = _last_line(self.path)
        if last:
            try:
                rec = json.loads(last)
                return Head(seq=int(rec["seq"]), hash=str(rec["hash"]))
            except (ValueError, KeyError, TypeError):
                raise ToolError(
                    "audit_corrupt",
                    f"{self.path}: the last line is not a valid audit record, so no record can be chained to it",
                    "run `finetune audit verify` to see the first bad line; keep the file as evidence and "
                    "move it aside to start a new log",
                ) from None
        return Head(seq=0, hash=GENESIS)

    def records(self, limit: int | None = None) -> list[AuditRecord]:
        """The last ``limit`` records that parse (all of them when ``limit`` is None)."""
        if not self.path.is_file():
            return []
        out: list[AuditRecord] = []
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    out.append(AuditRecord.model_validate_json(line))
                except ValueError:
                    continue
        return out[-limit:] if limit else out


def _last_line(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        step = 4096
        data = b""
        pos = end
        while pos > 0:
            pos = max(0, pos - step)
            handle.seek(pos)
            data = handle.read(end - pos)
            if data.rstrip(b"\n").count(b"\n") >= 1:
                break
        lines = data.rstrip(b"\n").split(b"\n")
        return lines[-1].decode("utf-8", errors="replace") if lines else None


class VerifyResult(BaseModel):
    ok: bool
    records: int
    first_bad_line: int | None = None
    problem: str | None = None
    head_present: bool = True


def verify_log(log: AuditLog) -> VerifyResult:
    """Walk the chain and name the first line that breaks it."""
    if not log.path.is_file():
        if log.head_path.is_file():
            return VerifyResult(
                ok=False,
                records=0,
                first_bad_line=1,
                problem="the audit file is missing but its head says records were written",
            )
        return VerifyResult(ok=True, records=0)

    def bad(line_no: int, count: int, problem: str) -> VerifyResult:
        return VerifyResult(ok=False, records=count, first_bad_line=line_no, problem=problem)

    prev_hash = GENESIS
    count = 0
    with log.path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                return bad(line_no, count, "the line is cut short (the file was truncated mid-record)")
            try:
                fields = json.loads(raw.decode("utf-8"))
                record = AuditRecord.model_validate(fields)
            except (UnicodeDecodeError, ValueError):
                return bad(line_no, count, "the line is not a valid audit record (edited or corrupted)")
            if record_hash(fields) != record.hash:
                return bad(line_no, count, "the record's content does not match its hash (edited)")
            if record.seq != line_no:
                kind = (
                    "a record before it was deleted"
                    if record.seq > line_no
                    else "a record was inserted or records were reordered"
                )
                return bad(line_no, count, f"sequence number {record.seq} where {line_no} was expected: {kind}")
            if record.prev != prev_hash:
                return bad(
                    line_no, count, "the record does not chain to the one before it (inserted, deleted or reordered)"
                )
            prev_hash = record.hash
            count += 1

    if not log.head_path.is_file():
        return VerifyResult(
            ok=True,
            records=count,
            head_present=False,
            problem="the head file is missing, so records cut off the end cannot be detected",
        )
    try:
        head = Head.model_validate_json(log.head_path.read_text("utf-8"))
    except ValueError:
        return bad(count + 1, count, f"the head file {log.head_path.name} is not valid")
    if head.seq > count:
        return bad(
            count + 1,
            count,
            f"the head says {head.seq} records were written but the file ends "
            f"after {count}: records were removed from the end",
        )
    if head.seq != count or head.hash != prev_hash:
        return bad(count, count, "the last record does not match the head file (the end of the log was replaced)")
    return VerifyResult(ok=True, records=count)
