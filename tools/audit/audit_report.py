"""The ``audit_report`` tool: the audit log as a markdown report an auditor can read.

Built only from :meth:`tools.core.audit_log.AuditLog.records` and :func:`tools.core.audit_log.verify_log`, plus, for PII
scans, the counts in the scan's own JSON report when its dataset SHA-256 matches the logged one. The log
holds no argument values (only their SHA-256 and names), no file contents and no secrets, and the scan
reports hold masked samples only; this report copies neither samples nor values - counts, entity types,
paths and hashes - so raw PII cannot reach it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.core import registry
from tools.core.audit_log import AuditLog, AuditRecord
from tools.core.audit_verify import verify_log
from tools.core.document import Bullets, Document, Pairs
from tools.core.errors import ToolError
from tools.core.fields import OutputPath
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic

DECISION_STAGES = ("decide", "provider", "cost")
CONFIG_STAGES = ("data", "configure")
RUN_STAGES = ("train", "evaluate", "diagnose", "migrate", "export")


class AuditReportRequest(BaseModel):
    """Write the audit trail of this workspace as a markdown report."""

    out: OutputPath | None = Field(None, description="where to write it (default .finetune/reports/audit-report.md)")
    max_calls: int = Field(200, ge=1, le=100000, description="how many of the latest calls to list in full")


class AuditReportResult(BaseModel):
    path: str
    chain_ok: bool
    records: int
    first_bad_line: int | None
    problem: str | None
    datasets: int
    pii_scans: int
    errors: int
    sections: list[str]

    def document(self) -> Document:
        headline = (
            f"chain ok: {self.records} records" if self.chain_ok
            else f"TAMPERED at line {self.first_bad_line}: {self.problem}"
        )  # fmt: skip
        counts = Pairs(items=[("input files by SHA-256", self.datasets), ("PII scans", self.pii_scans),
                              ("failed calls", self.errors)])  # fmt: skip
        return Document(title="Audit report", status="ok" if self.chain_ok else "problems", headline=headline,
                        blocks=[counts, Bullets(title="sections", items=self.sections)], files=[self.path])  # fmt: skip


def _short(sha: str | None) -> str:
    return f"`{sha[:12]}`" if sha else "-"


def _files(rec: AuditRecord, role: str) -> str:
    return ", ".join(f"{f.path} {_short(f.sha256)}" for f in rec.files if f.role == role) or "-"


def _declared(name: str) -> registry.Tool | None:
    """What a recorded tool declares; None for a tool that no longer exists (its records still count)."""
    try:
        return registry.get(name)
    except ToolError:
        return None


def _effect(name: str) -> str:
    spec = _declared(name)
    return spec.effect if spec else "?"


def _stage(name: str) -> str:
    spec = _declared(name)
    return spec.stage if spec else "?"


def _pii_summary(ws: Workspace, rec: AuditRecord) -> str:
    """Counts from the scan's JSON report, if one for the same dataset bytes is still there."""
    inputs = [f for f in rec.files if f.role == "input" and f.arg == "path"]
    if not inputs or not inputs[0].sha256:
        return "-"
    digest = inputs[0].sha256
    candidates = [f.path for f in rec.files if f.arg == "report"]
    candidates.append(f".finetune/reports/{Path(inputs[0].path).stem}.pii.json")
    for rel in candidates:
        path = ws.root / rel
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("sha256") != digest:
            continue
        kinds: Counter[str] = Counter()
        types = []
        for e in data.get("entities") or []:
            if isinstance(e, dict) and isinstance(e.get("count"), int):
                kinds[str(e.get("kind"))] += e["count"]
                types.append(str(e.get("entity")))
        red = data.get("redaction") or {}
        parts = [f"{data.get('found_total', '?')} found ({kinds['pii']} PII, {kinds['secret']} secrets)"]
        if types:
            parts.append("types: " + ", ".join(sorted(types)))
        if red:
            parts.append(f"redacted ({red.get('mode')}), re-scan found {red.get('rescan_found')}")
        return "; ".join(parts)
    return "report not found (or the dataset changed since)"


def build_report(ws: Workspace, max_calls: int = 200) -> tuple[str, AuditReportResult]:
    log = AuditLog(ws)
    check = verify_log(log)
    records = log.records()
    lines: list[str] = ["# Audit report", ""]
    if check.ok:
        lines.append(f"**Chain verification: OK** - {check.records} records, every hash links to the one before.")
        if check.problem:
            lines.append(f"\n> warning: {check.problem}")
    else:
        lines.append(
            f"**Chain verification: FAILED at line {check.first_bad_line}** - {check.problem}. "
            f"{check.records} records before it verify; treat everything after it as untrusted."
        )
    lines += [
        "",
        f"- workspace: `{ws.root}`",
        f"- log: `{ws.relative(log.path)}`",
        f"- generated: {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    if records:
        lines.append(f"- period: {records[0].time} .. {records[-1].time}; last record hash {_short(records[-1].hash)}")
        actors = Counter(r.actor for r in records)
        lines.append("- actors: " + ", ".join(f"{a} ({n})" for a, n in actors.most_common()))
    lines += [
        "",
        "The log stores no argument values (only their SHA-256 and which were given), no file contents "
        "and no secrets; files are identified by path and SHA-256 of their bytes.",
        "",
    ]
    sections: list[str] = []

    def section(title: str, header: list[str], rows: list[list[str]], empty: str) -> None:
        sections.append(title)
        lines.extend([f"## {title}", ""])
        if not rows:
            lines.extend([empty, ""])
            return
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(r) + " |" for r in rows)
        lines.append("")

    per_tool = Counter(r.tool for r in records)
    section(
        "Calls by tool",
        ["tool", "stage", "effect", "calls", "errors"],
        [
            [t, _stage(t), _effect(t), str(n), str(sum(1 for r in records if r.tool == t and r.outcome == "error"))]
            for t, n in per_tool.most_common()
        ],
        "No calls recorded.",
    )

    datasets: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        for f in r.files:
            if f.role == "input" and f.sha256:
                entry = datasets.setdefault((f.path, f.sha256), {"bytes": f.bytes, "first": r.time, "tools": set()})
                entry["tools"].add(r.tool)
    section(
        "Datasets and input files (by SHA-256)",
        ["path", "sha256", "bytes", "first seen", "read by"],
        [
            [p, f"`{s}`", str(e["bytes"]), e["first"], ", ".join(sorted(e["tools"]))]
            for (p, s), e in sorted(datasets.items(), key=lambda kv: kv[1]["first"])
        ],
        "No input files recorded.",
    )

    outputs = [
        [r.time, r.tool, f.path, f"`{f.sha256}`"] for r in records for f in r.files if f.role == "output" and f.sha256
    ]
    section("Files written", ["time", "tool", "path", "sha256"], outputs, "No files written by tools.")

    scans = [r for r in records if r.tool == "scan_pii"]
    section(
        "PII scans and redactions",
        ["seq", "time", "dataset", "redacted copy", "outcome", "result"],
        [
            [
                str(r.seq),
                r.time,
                _files(r, "input"),
                _files(r, "output"),
                r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
                _pii_summary(ws, r),
            ]
            for r in scans
        ],
        "**No PII scan recorded.** Run `finetune pii DATA.jsonl` before training.",
    )

    def simple(stages: tuple[str, ...]) -> list[list[str]]:
        return [
            [
                str(r.seq),
                r.time,
                r.tool,
                r.actor,
                ", ".join(r.args_given) or "-",
                _files(r, "input"),
                _files(r, "output"),
                r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
            ]
            for r in records
            if _stage(r.tool) in stages
        ]

    head = ["seq", "time", "tool", "actor", "arguments given", "inputs", "outputs", "outcome"]
    section(
        "Decisions, compliance checks and provider/region choices",
        head,
        simple(DECISION_STAGES),
        "No decision, compliance check or provider choice recorded.",
    )
    section("Data preparation and training configurations", head, simple(CONFIG_STAGES), "No configuration recorded.")
    spend = [r for r in records if _effect(r.tool) == "spend"]
    section(
        "Confirmations (calls that cost money or send data to a third party)",
        ["seq", "time", "tool", "actor", "confirm given", "outcome"],
        [
            [
                str(r.seq),
                r.time,
                r.tool,
                r.actor,
                "yes" if "confirm" in r.args_given else "no",
                r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
            ]
            for r in spend
        ],
        "No spend-effect call recorded.",
    )
    section("Training runs and evaluations", head, simple(RUN_STAGES), "No training run or evaluation recorded.")
    errors = [r for r in records if r.outcome == "error"]
    section(
        "Errors",
        ["seq", "time", "tool", "error code"],
        [[str(r.seq), r.time, r.tool, str(r.error_code)] for r in errors],
        "No failed calls.",
    )
    latest = records[-max_calls:]
    section(
        f"Latest calls ({len(latest)} of {len(records)})",
        ["seq", "time", "tool", "actor", "args sha256", "files", "outcome", "ms"],
        [
            [
                str(r.seq),
                r.time,
                r.tool,
                r.actor,
                _short(r.args_sha256),
                "; ".join(f"{'in' if f.role == 'input' else 'out'} {f.path} {_short(f.sha256)}" for f in r.files)
                or "-",
                r.outcome if r.outcome == "ok" else f"error: {r.error_code}",
                str(r.duration_ms),
            ]
            for r in latest
        ],
        "No calls recorded.",
    )
    scans_with_input = {f.sha256 for r in scans if r.outcome == "ok" for f in r.files}
    trained = defaultdict(list)
    for r in records:
        if _stage(r.tool) == "train":
            for f in r.files:
                if f.role == "input" and f.sha256 not in scans_with_input:
                    trained[f.path].append(r.seq)
    if trained:
        lines += [
            "> **warning:** training read files that no recorded PII scan covered: "
            + ", ".join(f"{p} (seq {', '.join(map(str, s))})" for p, s in trained.items()),
            "",
        ]
    result = AuditReportResult(
        path="",
        chain_ok=check.ok,
        records=check.records,
        first_bad_line=check.first_bad_line,
        problem=check.problem,
        datasets=len(datasets),
        pii_scans=len(scans),
        errors=len(errors),
        sections=sections,
    )
    return "\n".join(lines) + "\n", result


# Not audited: like `audit_log`, a report on the log must not append to the log it describes.
@tool(effect="write", stage="audit", audited=False)
def audit_report(req: AuditReportRequest) -> AuditReportResult:
    """Writes the audit trail of this workspace as a markdown report an auditor can read.

    Use it to hand over evidence: chain verification result first, then datasets by SHA-256, PII scans
    and redactions, decisions and compliance checks, provider choices, configurations, confirmations,
    training runs and evaluations, errors. Contains no raw PII or secrets (the log never stores them).
    """
    ws = current()
    path = ws.output_file(req.out) if req.out else ws.state_dir / "reports" / "audit-report.md"
    text, result = build_report(ws, req.max_calls)
    write_text_atomic(path, text)
    return result.model_copy(update={"path": ws.relative(path)})
