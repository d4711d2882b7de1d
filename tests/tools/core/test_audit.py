from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.audit_log import AuditLog, verify_log
from tools.core.workspace import Workspace


def _append(log: AuditLog, n: int, tool_name: str = "probe") -> None:
    for i in range(n):
        log.append(
            tool_name=tool_name,
            actor="test",
            args_sha256=f"{i:064x}",
            args_given=["x"],
            files=[],
            outcome="ok",
            error_code=None,
            duration_ms=i,
        )


@pytest.fixture
def log(ws: Workspace) -> AuditLog:
    audit = AuditLog(ws)
    _append(audit, 6)
    assert verify_log(audit).ok
    return audit


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(lines))


def test_intact_log_verifies(log: AuditLog) -> None:
    result = verify_log(log)
    assert result.ok and result.records == 6 and result.first_bad_line is None


def test_edited_record_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    rec = json.loads(lines[3])
    rec["outcome"] = "error"
    lines[3] = json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 4 and "edited" in (result.problem or "")


def test_edited_record_with_recomputed_hash_still_breaks_the_chain(log: AuditLog) -> None:
    from tools.core.audit_log import canonical_json, record_hash

    lines = _lines(log)
    rec = json.loads(lines[2])
    rec["tool"] = "something_else"
    rec["hash"] = record_hash(rec)
    lines[2] = canonical_json(rec) + "\n"
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 4


def test_deleted_record_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    del lines[2]
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 3 and "deleted" in (result.problem or "")


def test_deleted_first_record_is_named(log: AuditLog) -> None:
    _write(log, _lines(log)[1:])
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 1


def test_inserted_record_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    lines.insert(4, lines[1])
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 5


def test_reordered_records_are_named(log: AuditLog) -> None:
    lines = _lines(log)
    lines[2], lines[3] = lines[3], lines[2]
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 3


def test_records_cut_off_the_end_are_detected(log: AuditLog) -> None:
    _write(log, _lines(log)[:4])
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 5 and "removed from the end" in (result.problem or "")


def test_truncation_mid_record_is_detected(log: AuditLog) -> None:
    data = log.path.read_bytes()
    log.path.write_bytes(data[: len(data) - 40])
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 6 and "cut short" in (result.problem or "")


def test_emptied_file_is_detected(log: AuditLog) -> None:
    log.path.write_text("")
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 1


def test_garbage_line_is_detected(log: AuditLog) -> None:
    lines = _lines(log)
    lines[1] = "not json at all\n"
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 2


def test_audit_log_tool_reports_tampering_and_does_not_write(log: AuditLog, ws: Workspace) -> None:
    _write(log, _lines(log)[:3])
    before = log.path.read_bytes()
    report = registry.call("audit_log", {"action": "show", "limit": 2}, workspace=ws)
    assert report.ok is False and report.first_bad_line == 4
    assert [r.seq for r in report.latest] == [2, 3]
    assert log.path.read_bytes() == before


def _worker(root: str, n: int, name: str) -> None:
    _append(AuditLog(Workspace(root)), n, tool_name=name)


def test_concurrent_appends_from_four_processes_lose_nothing(ws: Workspace) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(ws.root), 200, f"p{i}")) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = AuditLog(ws)
    result = verify_log(log)
    assert result.ok, result.problem
    assert result.records == 800
    per_process: dict[str, int] = {}
    for line in Path(log.path).read_text().splitlines():
        rec = json.loads(line)
        per_process[rec["tool"]] = per_process.get(rec["tool"], 0) + 1
    assert per_process == {"p0": 200, "p1": 200, "p2": 200, "p3": 200}
