"""Verifying an audit trail: walk the chain, check the signatures, the head, the workspace and an anchor.

The result separates three things a reader must not confuse: tampering (``ok`` false, with the first bad
line), an interrupted write (``ok`` true, ``interrupted`` true: a crash between a record and its head,
recovered on the next append) and what could not be checked (``warnings``: no key on this machine, a log
from before signatures).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from tools.core.audit_keys import signature_ok
from tools.core.audit_log import GENESIS, GENESIS_TOOL, Anchor, AuditLog, AuditRecord, Head, head_message, record_hash


class VerifyResult(BaseModel):
    ok: bool
    records: int
    first_bad_line: int | None = None
    problem: str | None = None
    interrupted: bool = False
    signed: bool = Field(False, description="every record and the head carried a signature this machine checked")
    workspace_id: str | None = None
    warnings: list[str] = Field(default_factory=list)


class _Walk:
    """The state of one pass over the lines."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.count = 0
        self.prev = GENESIS
        self.workspace_id: str | None = None
        self.key: bytes | None = None
        self.partial = False
        self.unsigned = 0
        self.last: AuditRecord | None = None

    def bad(self, line_no: int, problem: str) -> VerifyResult:
        return VerifyResult(
            ok=False, records=self.count, first_bad_line=line_no, problem=problem, workspace_id=self.workspace_id
        )

    def check(self, line_no: int, raw: bytes) -> VerifyResult | None:
        try:
            fields = json.loads(raw.decode("utf-8"))
            record = AuditRecord.model_validate(fields)
        except (UnicodeDecodeError, ValueError):
            return self.bad(line_no, "the line is not a valid audit record (edited or corrupted)")
        if record_hash(fields) != record.hash:
            return self.bad(line_no, "the record's content does not match its hash (edited)")
        if record.seq != line_no:
            kind = "a record before it was deleted" if record.seq > line_no else "a record was inserted or reordered"
            return self.bad(line_no, f"sequence number {record.seq} where {line_no} was expected: {kind}")
        if record.prev != self.prev:
            return self.bad(line_no, "the record does not chain to the one before it (inserted, deleted or reordered)")
        if line_no == 1:
            self.workspace_id = record.workspace_id
            self.key = self.log.keys.key(record.workspace_id) if record.workspace_id else None
        elif record.workspace_id != self.workspace_id:
            return self.bad(line_no, "the record names another workspace than the log's genesis record")
        if self.key is not None and not signature_ok(self.key, record.hash, record.mac):
            return self.bad(
                line_no, "the record's signature does not match: it was written without this workspace's key"
            )
        self.unsigned += record.mac is None
        self.prev = record.hash
        self.count += 1
        self.last = record
        return None


def verify_log(log: AuditLog, anchor: Anchor | None = None) -> VerifyResult:
    """Walk the chain and name the first line that breaks it; then the head, the workspace and the anchor."""
    walk = _Walk(log)
    identity = log.keys.identity(log.root)
    if not log.path.is_file():
        if log.head_path.is_file():
            return walk.bad(1, "the audit file is missing but its head says records were written")
        if identity is not None:
            return walk.bad(1, "the audit file was deleted: this machine holds the key of this workspace's log")
        return VerifyResult(ok=True, records=0)
    lines = log.path.read_bytes().split(b"\n")
    tail = lines.pop()
    for line_no, raw in enumerate(lines, start=1):
        problem = walk.check(line_no, raw)
        if problem is not None:
            return problem
    walk.partial = bool(tail)
    return _finish(log, walk, identity, anchor)


def _finish(log: AuditLog, walk: _Walk, identity: str | None, anchor: Anchor | None) -> VerifyResult:
    warnings: list[str] = []
    interrupted = walk.partial
    if walk.partial:
        warnings.append("the last record was cut short by a crash before it was committed; the next call drops it")
    first_is_genesis = walk.count > 0 and _first_tool(log) == GENESIS_TOOL
    if walk.count and not first_is_genesis:
        warnings.append("the log was written by a version without a genesis record: its workspace cannot be checked")
    if identity is not None and walk.workspace_id is not None and identity != walk.workspace_id:
        return walk.bad(1, f"this log belongs to workspace {walk.workspace_id}, not to this one ({identity})")
    if walk.key is None and walk.count:
        warnings.append(
            "this machine holds no key for this log (moved, copied or written elsewhere): the chain is checked, "
            "its signatures are not; compare with an anchor from `finetune audit export`"
        )
    head_problem, head_interrupted = _check_head(log, walk)
    if head_problem is not None:
        return head_problem
    interrupted = interrupted or head_interrupted
    if head_interrupted:
        warnings.append(
            "the last call was recorded but the head was not yet updated (a crash); the next call completes it"
        )
    if anchor is not None:
        anchor_problem = _check_anchor(log, walk, anchor)
        if anchor_problem is not None:
            return anchor_problem
    return VerifyResult(
        ok=True,
        records=walk.count,
        interrupted=interrupted,
        signed=walk.key is not None and walk.unsigned == 0,
        workspace_id=walk.workspace_id,
        warnings=warnings,
    )


def _first_tool(log: AuditLog) -> str | None:
    with log.path.open("rb") as handle:
        first = handle.readline()
    try:
        value: Any = json.loads(first)
    except ValueError:
        return None
    return value.get("tool") if isinstance(value, dict) else None


def _check_head(log: AuditLog, walk: _Walk) -> tuple[VerifyResult | None, bool]:
    """(a tampering result or None, whether the end is an interrupted write)."""
    try:
        head = Head.model_validate_json(log.head_path.read_text("utf-8"))
    except FileNotFoundError:
        if walk.count <= 1:
            return None, walk.count == 1
        return walk.bad(walk.count, "the head file was deleted, so records cut off the end cannot be ruled out"), False
    except ValueError:
        return walk.bad(walk.count + 1, f"the head file {log.head_path.name} is not valid"), False
    if walk.key is not None and not signature_ok(
        walk.key, head_message(head.seq, head.hash, head.workspace_id), head.mac
    ):
        return walk.bad(walk.count, "the head file's signature does not match: it was rewritten without the key"), False
    if head.seq > walk.count:
        return walk.bad(
            walk.count + 1,
            f"the head says {head.seq} records were written but the file ends after {walk.count}: "
            "records were removed from the end",
        ), False
    if head.seq == walk.count and head.hash == walk.prev:
        return None, False
    last = walk.last
    if last is not None and head.seq == walk.count - 1 and head.hash == last.prev:
        return None, True  # signed records were checked in the walk; without a key the warning says so
    return walk.bad(walk.count, "the last record does not match the head file (the end of the log was replaced)"), False


def _check_anchor(log: AuditLog, walk: _Walk, anchor: Anchor) -> VerifyResult | None:
    if anchor.workspace_id != walk.workspace_id:
        return walk.bad(1, f"the anchor is of workspace {anchor.workspace_id}, this log of {walk.workspace_id}")
    if anchor.seq > walk.count:
        return walk.bad(
            walk.count + 1, f"the anchor was taken at record {anchor.seq}; the log now ends at {walk.count}"
        )
    with log.path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no == anchor.seq:
                if json.loads(raw).get("hash") != anchor.hash:
                    return walk.bad(line_no, "record differs from the anchor taken earlier: the log was rewritten")
                break
    return None
