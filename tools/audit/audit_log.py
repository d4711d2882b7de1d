"""The ``audit_log`` tool: read and verify the tamper-evident audit trail of this workspace."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.audit_log import AuditLog, AuditRecord, verify_log
from tools.core.registry import tool
from tools.core.workspace import current


class AuditLogRequest(BaseModel):
    """Read or check the audit trail of this workspace."""

    action: Literal["verify", "show"] = Field(
        description="verify: check the hash chain and name the first bad line; show: the latest records"
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="how many of the latest records to return with action=show (default 20)",
    )


class AuditLogReport(BaseModel):
    path: str
    ok: bool
    records: int
    first_bad_line: int | None
    problem: str | None
    latest: list[AuditRecord]


# Not audited itself: a verify must never append to the log it is judging (a record written after a
# line cut short would glue onto it and destroy the evidence).
@tool(effect="read", stage="audit", audited=False)
def audit_log(req: AuditLogRequest) -> AuditLogReport:
    """Reads and verifies the tamper-evident audit trail of every tool call in this workspace.

    Use `verify` to prove the log is intact (any edited, deleted, inserted, reordered or truncated
    record is reported with its line number) and `show` to list the latest calls: tool, time,
    outcome, a SHA-256 of the arguments and of every file read or written. Raw arguments, file
    contents and secrets are never stored.
    """
    ws = current()
    log = AuditLog(ws)
    result = verify_log(log)
    latest = log.records(limit=req.limit or 20) if req.action == "show" else []
    return AuditLogReport(
        path=log.path.relative_to(ws.root).as_posix(),
        ok=result.ok,
        records=result.records,
        first_bad_line=result.first_bad_line,
        problem=result.problem,
        latest=latest,
    )
