"""audit_report: a readable markdown report from the audit log, with no raw PII or secrets in it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tools.core import registry
from tools.core.audit_log import AuditLog
from tools.core.workspace import Workspace, sha256_file

NAME = "Zebulon Quartermaine"
EMAIL = "zebulon.quartermaine@example.com"
KEY = "sk-proj-Canary9xT2mB7vL1nR8cW3yZ6aH0dK5pE9"
CANARIES = (NAME, EMAIL, KEY, "Quartermaine", "Canary9xT2")


def chat(user: str, assistant: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


@pytest.fixture(scope="module")
def pii_engine():
    pytest.importorskip("presidio_analyzer")
    from tools.pii.engine import engine

    return engine("en")


@pytest.fixture
def busy(ws: Workspace, pii_engine) -> Workspace:
    """A workspace whose log holds a scan, a redaction, a compliance check and a failed call."""
    rows = [
        chat(f"Hi, I am {NAME}, write to {EMAIL}.", "Thanks, noted."),
        chat(f"My key is {KEY}, is that a problem?", "Yes: rotate it now."),
        chat("How do I return boots?", "Use the returns form within 30 days."),
    ]
    (ws.root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    registry.call("scan_pii", {"path": "train.jsonl"}, workspace=ws)
    registry.call("scan_pii", {"path": "train.jsonl", "redact": "clean.jsonl", "mode": "pseudonym"}, workspace=ws)
    registry.call(
        "check_compliance",
        {"regimes": ["gdpr"], "residency": "eu", "pii_report": ".finetune/reports/train.pii.json"},
        workspace=ws,
    )
    with pytest.raises(Exception):
        registry.call("scan_pii", {"path": "missing.jsonl"}, workspace=ws)
    return ws


def test_report_sections_and_no_canaries(busy: Workspace) -> None:
    before = AuditLog(busy).records()
    result = registry.call("audit_report", {}, workspace=busy)
    assert AuditLog(busy).records() == before  # writing the report does not append to the log
    text = (busy.root / result.path).read_text()
    assert result.chain_ok and text.splitlines()[2].startswith("**Chain verification: OK**")
    assert result.pii_scans == 3 and result.errors == 1
    assert sha256_file(busy.root / "train.jsonl") in text
    assert sha256_file(busy.root / "clean.jsonl") in text
    for heading in (
        "Datasets and input files",
        "PII scans and redactions",
        "Decisions, compliance checks",
        "Confirmations",
        "Training runs and evaluations",
        "Errors",
    ):
        assert f"## {heading}" in text
    assert "check_compliance" in text and "file_not_found" in text
    assert "redacted (pseudonym), re-scan found 0" in text and "OPENAI_API_KEY" in text
    for canary in CANARIES:
        assert canary not in text
    everything = "\n".join(
        p.read_text(errors="replace") for p in busy.root.rglob("*") if p.is_file() and p.name != "train.jsonl"
    )
    for canary in CANARIES:
        assert canary not in everything, f"{canary!r} reached a report or the log"


def test_tampered_log_is_reported_first(busy: Workspace) -> None:
    log = AuditLog(busy)
    lines = log.path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"actor":"api"', '"actor":"mallory"')
    log.path.write_text("".join(lines))
    result = registry.call("audit_report", {"out": "evidence.md"}, workspace=busy)
    text = (busy.root / "evidence.md").read_text()
    assert not result.chain_ok and result.first_bad_line == 2
    assert text.splitlines()[2].startswith("**Chain verification: FAILED at line 2**")


def test_empty_log(ws: Workspace) -> None:
    result = registry.call("audit_report", {}, workspace=ws)
    text = (ws.root / result.path).read_text()
    assert result.chain_ok and result.records == 0
    assert "No PII scan recorded" in text


def test_cli(busy: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.cli import app

    monkeypatch.chdir(busy.root)
    res = CliRunner().invoke(app, ["audit", "report", "--out", "audit.md"])
    assert res.exit_code == 0, res.output
    assert (busy.root / "audit.md").is_file() and "chain ok" in res.stdout
    res = CliRunner().invoke(app, ["audit", "report", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["pii_scans"] == 3


def test_recorded_decisions_and_every_tool_that_ran_appear(ws: Workspace) -> None:
    registry.call("record_answers", {"failure_mode": "format", "quality_examples": 800}, workspace=ws)
    registry.call("decide_fit", {}, workspace=ws)
    registry.call("read_reference", {"file": "training.md"}, workspace=ws)
    out = registry.call("audit_report", {}, workspace=ws)
    text = (ws.root / out.path).read_text()
    decisions = text.split("## Decisions")[1].split("\n## ")[0]
    assert "record_answers" in decisions and "decide_fit" in decisions
    calls = text.split("## Calls by tool")[1].split("\n## ")[0]
    for name in ("record_answers", "decide_fit", "read_reference"):
        assert name in calls
