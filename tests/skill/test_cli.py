from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from skill.cli import app
from tools.core.audit_log import AuditLog
from tools.core.workspace import Workspace

runner = CliRunner()


def test_version_and_tools_listing() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("finetune-skill ")
    listing = runner.invoke(app, ["tools", "--json"])
    assert listing.exit_code == 0
    rows = json.loads(listing.stdout)
    assert {"name", "effect", "description"} <= set(rows[0])
    assert "audit_log" in {r["name"] for r in rows}


def test_tools_schema_prints_the_portable_schema() -> None:
    result = runner.invoke(app, ["tools", "--schema", "audit_log"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False and schema["required"] == ["action", "limit", "anchor", "out"]


def test_unknown_tool_is_a_usage_error_without_traceback() -> None:
    result = runner.invoke(app, ["tools", "--schema", "nope"])
    assert result.exit_code == 2
    assert "unknown_tool" in result.stderr and "Traceback" not in result.output


def test_call_with_bad_json_names_the_problem(in_ws: Workspace) -> None:
    result = runner.invoke(app, ["call", "audit_log", "--args", "{not json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "args_not_json"


def test_call_with_args_file(in_ws: Workspace) -> None:
    (in_ws.root / "args.json").write_text('{"action": "verify"}')
    result = runner.invoke(app, ["call", "audit_log", "--args", "@args.json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_audit_verify_exit_codes(in_ws: Workspace) -> None:
    log = AuditLog(in_ws)
    for i in range(3):
        log.append(
            tool_name="probe",
            actor="t",
            args_sha256="0" * 64,
            args_given=[],
            files=[],
            outcome="ok",
            error_code=None,
            duration_ms=i,
        )
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "4 records" in ok.stdout and "3 calls" in ok.stdout
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text(lines[0] + lines[2])
    bad = runner.invoke(app, ["audit", "verify", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["first_bad_line"] == 2


def test_workspace_option_must_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--workspace", str(tmp_path / "missing"), "audit", "verify"])
    assert result.exit_code == 2 and "workspace_missing" in result.stderr


def test_console_script_runs_as_a_process(in_ws: Workspace) -> None:
    exe = Path(sys.executable).with_name("finetune")
    proc = subprocess.run([str(exe), "audit", "verify", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
