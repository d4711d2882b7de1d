"""The audit trail: every kind of tampering is detected or refused; crashes are told apart from tampering.

Line 1 of every log is the genesis record; the six calls of the ``log`` fixture are lines 2 to 7.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.audit_keys import KeyStore, sign
from tools.core.audit_log import GENESIS_TOOL, AuditLog, canonical_json, head_message, record_hash
from tools.core.audit_verify import verify_log
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

CALLS = 6
LINES = CALLS + 1


def _append(log: AuditLog, n: int, tool_name: str = "probe", outcome: str = "ok") -> None:
    for i in range(n):
        log.append(
            tool_name=tool_name,
            actor="test",
            args_sha256=f"{i:064x}",
            args_given=["x"],
            files=[],
            outcome=outcome,  # type: ignore[arg-type]
            error_code=None if outcome == "ok" else "planned",
            duration_ms=i,
        )


@pytest.fixture
def log(ws: Workspace) -> AuditLog:
    audit = AuditLog(ws)
    _append(audit, CALLS)
    assert verify_log(audit).ok
    return audit


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(lines))


def _rehash(lines: list[str], mac_key: bytes | None = None) -> tuple[list[str], dict]:
    """Recompute the whole chain (what someone with write access but without the key can do)."""
    out, prev = [], "0" * 64
    rec: dict = {}
    for seq, line in enumerate(lines, start=1):
        rec = json.loads(line)
        rec["seq"], rec["prev"] = seq, prev
        rec["hash"] = record_hash(rec)
        rec["mac"] = sign(mac_key, rec["hash"]) if mac_key else rec.get("mac")
        prev = rec["hash"]
        out.append(canonical_json(rec) + "\n")
    return out, rec


def _forge_head(log: AuditLog, last: dict, mac_key: bytes | None = None) -> None:
    message = head_message(last["seq"], last["hash"], last["workspace_id"])
    head = {"seq": last["seq"], "hash": last["hash"], "workspace_id": last["workspace_id"],
            "mac": sign(mac_key, message) if mac_key else "f" * 64}  # fmt: skip
    log.head_path.write_text(canonical_json(head))


def test_intact_log_verifies_and_is_signed(log: AuditLog) -> None:
    result = verify_log(log)
    assert result.ok and result.records == LINES and result.first_bad_line is None
    assert result.signed and result.workspace_id and not result.warnings
    first = json.loads(_lines(log)[0])
    assert first["tool"] == GENESIS_TOOL and first["workspace_id"] == result.workspace_id
    assert [r.seq for r in log.records()] == list(range(2, LINES + 1))


def test_edited_record_is_named(log: AuditLog) -> None:
    lines = _lines(log)
    rec = json.loads(lines[3])
    rec["outcome"] = "error"
    lines[3] = json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 4 and "edited" in (result.problem or "")


def test_edited_record_with_recomputed_hash_fails_its_signature(log: AuditLog) -> None:
    lines = _lines(log)
    rec = json.loads(lines[2])
    rec["tool"] = "something_else"
    rec["hash"] = record_hash(rec)
    lines[2] = canonical_json(rec) + "\n"
    _write(log, lines)
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == 3 and "signature" in (result.problem or "")


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


def test_a_committed_record_cut_mid_line_is_detected(log: AuditLog) -> None:
    data = log.path.read_bytes()
    log.path.write_bytes(data[: len(data) - 40])
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == LINES


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


def test_cutting_records_and_rewriting_the_head_without_the_key_is_detected(log: AuditLog) -> None:
    kept = _lines(log)[:4]
    _write(log, kept)
    _forge_head(log, json.loads(kept[-1]))
    result = verify_log(log)
    assert not result.ok and "head" in (result.problem or "") and "signature" in (result.problem or "")


def test_a_deleted_head_is_tampering_not_a_warning(log: AuditLog) -> None:
    log.head_path.unlink()
    result = verify_log(log)
    assert not result.ok and "head file was deleted" in (result.problem or "")


def test_dropping_failed_calls_and_rehashing_is_detected(ws: Workspace) -> None:
    audit = AuditLog(ws)
    _append(audit, 2)
    _append(audit, 2, outcome="error")
    _append(audit, 2)
    kept = [line for line in _lines(audit) if '"outcome":"error"' not in line]
    lines, last = _rehash(kept)
    _write(audit, lines)
    _forge_head(audit, last)
    result = verify_log(audit)
    assert not result.ok and "signature" in (result.problem or "")


def test_forged_records_appended_are_detected(log: AuditLog) -> None:
    lines = _lines(log)
    forged = json.loads(lines[-1])
    forged.update(seq=LINES + 1, prev=forged["hash"], tool="launch_lora", mac=None)
    forged["hash"] = record_hash(forged)
    _write(log, [*lines, canonical_json(forged) + "\n"])
    result = verify_log(log)
    assert not result.ok and result.first_bad_line == LINES + 1
    with pytest.raises(ToolError) as info:
        _append(log, 1)
    assert info.value.code == "audit_corrupt"


def test_another_workspaces_log_swapped_in_is_detected(log: AuditLog, tmp_path: Path) -> None:
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = AuditLog(Workspace(other_root))
    _append(other, 3)
    shutil.copy(other.path, log.path)
    shutil.copy(other.head_path, log.head_path)
    result = verify_log(log)
    assert not result.ok and "belongs to workspace" in (result.problem or "")


def test_a_deleted_log_is_detected_and_a_new_one_says_what_it_replaces(log: AuditLog, ws: Workspace) -> None:
    old_id = verify_log(log).workspace_id
    log.path.unlink()
    log.head_path.unlink()
    assert not verify_log(log).ok
    _append(log, 1)
    result = verify_log(log)
    assert result.ok and result.workspace_id != old_id
    assert json.loads(_lines(log)[0])["replaces"] == old_id


def test_a_crash_between_record_and_head_is_interrupted_then_recovered(log: AuditLog) -> None:
    head_before = log.head_path.read_text()
    _append(log, 1)
    log.head_path.write_text(head_before)  # the head replace never happened
    result = verify_log(log)
    assert result.ok and result.interrupted and result.records == LINES + 1
    _append(log, 1)
    after = verify_log(log)
    assert after.ok and not after.interrupted and after.records == LINES + 2


def test_a_crash_mid_record_is_interrupted_then_dropped(log: AuditLog) -> None:
    with log.path.open("ab") as handle:
        handle.write(b'{"seq":8,"time":"2026-')
    result = verify_log(log)
    assert result.ok and result.interrupted
    _append(log, 1)
    after = verify_log(log)
    assert after.ok and not after.interrupted and after.records == LINES + 1


def test_a_crash_right_after_genesis_recovers(ws: Workspace) -> None:
    audit = AuditLog(ws)
    _append(audit, 1)
    genesis_only = _lines(audit)[:1]
    _write(audit, genesis_only)
    audit.head_path.unlink()
    assert verify_log(audit).ok
    _append(audit, 2)
    assert verify_log(audit).records == 3


def test_without_the_key_the_chain_is_checked_and_the_reader_is_told(
    log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINETUNE_AUDIT_KEYS", str(tmp_path / "another-machine"))
    moved = AuditLog(Workspace(log.root))
    result = verify_log(moved)
    assert result.ok and not result.signed and any("no key" in w for w in result.warnings)


def test_an_anchor_kept_elsewhere_catches_a_rewrite_by_someone_holding_the_key(log: AuditLog, ws: Workspace) -> None:
    exported = registry.call("audit_log", {"action": "export", "out": "anchor.json"}, workspace=ws)
    assert exported.anchor and exported.anchor.seq == LINES and exported.anchor_path == "anchor.json"
    assert registry.call("audit_log", {"action": "verify", "anchor": "anchor.json"}, workspace=ws).ok
    key = KeyStore().key(exported.anchor.workspace_id or "")
    assert key is not None
    lines = _lines(log)
    rec = json.loads(lines[4])
    rec["outcome"] = "error"
    lines[4] = canonical_json(rec) + "\n"
    lines, last = _rehash(lines, mac_key=key)
    _write(log, lines)
    _forge_head(log, last, mac_key=key)
    assert verify_log(log).ok, "with the key, a rewrite is self-consistent"
    checked = registry.call("audit_log", {"action": "verify", "anchor": "anchor.json"}, workspace=ws)
    assert not checked.ok and "anchor" in (checked.problem or "")


def test_an_output_into_the_audit_folder_is_refused(log: AuditLog, ws: Workspace) -> None:
    (ws.root / "data.jsonl").write_text('{"messages":[{"role":"user","content":"a"}]}\n')
    before = log.path.read_bytes()
    with pytest.raises(ToolError) as info:
        registry.call("split_dataset", {"path": "data.jsonl", "train_out": ".finetune/audit.jsonl"}, workspace=ws)
    assert info.value.code in ("output_in_state_dir", "invalid_arguments")
    assert log.path.read_bytes()[: len(before)] == before
    assert verify_log(log).ok


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
    assert result.records == 801
    per_process: dict[str, int] = {}
    for line in Path(log.path).read_text().splitlines()[1:]:
        rec = json.loads(line)
        per_process[rec["tool"]] = per_process.get(rec["tool"], 0) + 1
    assert per_process == {"p0": 200, "p1": 200, "p2": 200, "p3": 200}
