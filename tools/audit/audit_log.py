"""The ``audit_log`` tool: verify, show and export (anchor) the tamper-evident audit trail of this workspace."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.audit_log import Anchor, AuditLog, AuditRecord
from tools.core.audit_verify import verify_log
from tools.core.document import Block, Cell, Document, Finding, Findings, Pairs, Table, Text
from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath
from tools.core.json_input import load_json
from tools.core.registry import tool
from tools.core.workspace import current, read_small_text, write_text_atomic


class AuditLogRequest(BaseModel):
    """Read, check or anchor the audit trail of this workspace."""

    action: Literal["verify", "show", "export"] = Field(
        description="verify: check chain, signatures, head and workspace, naming the first bad line; show: the "
        "latest records; export: write an anchor (the signed head) to keep somewhere else"
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="how many of the latest records to return with action=show (default 20)",
    )
    anchor: InputPath | None = Field(
        None, description="with verify: an anchor file from an earlier export; the log must still hold it"
    )
    out: OutputPath | None = Field(None, description="with export: where to write the anchor (default: only returned)")


class AuditLogReport(BaseModel):
    path: str
    ok: bool
    records: int
    first_bad_line: int | None
    problem: str | None
    interrupted: bool = Field(description="a crash interrupted the last write; the next call completes it")
    signed: bool = Field(description="signatures were checked with this workspace's key, kept outside it")
    workspace_id: str | None
    warnings: list[str]
    latest: list[AuditRecord]
    anchor: Anchor | None = None
    anchor_path: str | None = None

    def document(self) -> Document:
        blocks: list[Block] = []
        if self.latest:
            rows: list[list[Cell]] = [
                [r.seq, r.time, r.tool, r.actor, r.outcome if r.outcome == "ok" else f"{r.error_code}",
                 ", ".join(f"{f.path} ({(f.sha256 or '-')[:12]})" for f in r.files) or "-"]
                for r in self.latest
            ]  # fmt: skip
            blocks.append(Table(title=f"latest {len(self.latest)} records", headers=[
                "seq", "time", "tool", "actor", "outcome", "files"], rows=rows))  # fmt: skip
        if self.anchor is not None:
            blocks.append(Pairs(title="anchor", items=[
                ("record", self.anchor.seq), ("hash", self.anchor.hash), ("workspace", self.anchor.workspace_id),
                ("keep it", "somewhere this workspace cannot change; `finetune audit verify --anchor FILE` checks it"),
            ]))  # fmt: skip
        if self.interrupted:
            blocks.append(Text(text="a crash interrupted the last write; the next call completes it"))
        if self.warnings:
            blocks.append(Findings(items=[Finding(severity="warning", message=w) for w in self.warnings]))
        if self.ok:
            calls = max(self.records - 1, 0) if self.workspace_id else self.records
            checked = "chain and signatures intact" if self.signed else "chain intact (signatures not checked)"
            noun = "call" if calls == 1 else "calls"
            headline = f"{self.path} holds {self.records} records ({calls} {noun}); the {checked}"
        else:
            headline = f"TAMPERED: {self.path} line {self.first_bad_line}: {self.problem}"
            blocks.append(Text(text=f"{self.records} records before it verify; treat everything after as untrusted."))
        files = [self.anchor_path] if self.anchor_path else []
        return Document(title="Audit trail", status="ok" if self.ok else "problems", headline=headline,
                        blocks=blocks, files=files)  # fmt: skip


def _read_anchor(raw: str) -> Anchor:
    ws = current()
    hint = "give the file `finetune audit export` wrote"
    value = load_json(read_small_text(ws, raw, what="anchor", limit=65536), source=raw, hint=hint)
    try:
        return Anchor.model_validate(value)
    except ValueError:
        raise ToolError("bad_anchor", f"{raw}: not an anchor written by `finetune audit export`", hint) from None


# Not audited itself: a verify must never append to the log it is judging (a record written after a
# line cut short would glue onto it and destroy the evidence).
@tool(effect="read", stage="audit", audited=False)
def audit_log(req: AuditLogRequest) -> AuditLogReport:
    """Reads, verifies and anchors the tamper-evident audit trail of every tool call in this workspace.

    Use `verify` to prove the log is intact (any edited, deleted, inserted, reordered or truncated record,
    a rewritten head, forged records or another workspace's log is reported with its line number), `show` to
    list the latest calls (tool, time, outcome, SHA-256 of the arguments and of every file read or written)
    and `export` to write the signed head as an anchor to keep elsewhere. Raw arguments, file contents and
    secrets are never stored.
    """
    ws = current()
    log = AuditLog(ws)
    anchor_in = _read_anchor(req.anchor) if req.anchor else None
    result = verify_log(log, anchor_in)
    latest = log.records(limit=req.limit or 20) if req.action == "show" else []
    anchor = anchor_path = None
    if req.action == "export":
        if not result.ok:
            raise ToolError(
                "audit_corrupt", f"{log.path.name}: {result.problem} (line {result.first_bad_line})",
                "an anchor is only exported for an intact log; run `finetune audit verify`",
            )  # fmt: skip
        anchor = log.anchor()
        if req.out:
            target = ws.output_file(req.out, what="anchor file")
            write_text_atomic(target, anchor.model_dump_json(indent=2) + "\n")
            anchor_path = ws.relative(target)
    return AuditLogReport(
        path=log.path.relative_to(ws.root).as_posix(),
        ok=result.ok,
        records=result.records,
        first_bad_line=result.first_bad_line,
        problem=result.problem,
        interrupted=result.interrupted,
        signed=result.signed,
        workspace_id=result.workspace_id,
        warnings=result.warnings,
        latest=latest,
        anchor=anchor,
        anchor_path=anchor_path,
    )
