from __future__ import annotations

import json

import pytest

from tools.core import registry
from tools.core.audit_log import AuditLog
from tools.core.audit_verify import verify_log
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

pytestmark = pytest.mark.usefixtures("test_tools")


def _records(ws: Workspace) -> list[dict]:
    lines = (ws.state_dir / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[1:]]  # line 1 is the genesis record


def test_call_runs_the_tool_and_audits_files_by_hash(ws: Workspace) -> None:
    (ws.root / "in.txt").write_text("hello secret-content")
    result = registry.call(
        "copy_upper", {"source": "in.txt", "target": "out/up.txt", "api_key": "sk-canary-123"}, workspace=ws
    )
    assert (ws.root / "out/up.txt").read_text() == "HELLO SECRET-CONTENT"
    assert (ws.root / "in.txt").read_text() == "hello secret-content"
    (rec,) = _records(ws)
    assert rec["tool"] == "copy_upper" and rec["outcome"] == "ok" and rec["seq"] == 2  # after the genesis
    roles = {f["role"]: f for f in rec["files"]}
    assert roles["input"]["path"] == "in.txt" and roles["output"]["sha256"] == result.sha256
    raw = (ws.state_dir / "audit.jsonl").read_text()
    assert "secret-content" not in raw and "sk-canary-123" not in raw and "SECRET" not in raw


def test_bad_arguments_become_invalid_arguments_without_echoing_values(ws: Workspace) -> None:
    with pytest.raises(ToolError) as info:
        registry.call("copy_upper", {"source": 12345678, "target": "x", "extra": 1}, workspace=ws)
    assert info.value.code == "invalid_arguments"
    assert "source" in info.value.message and "12345678" not in info.value.message
    assert _records(ws)[0]["outcome"] == "error"


def test_tool_errors_pass_through_and_are_audited(ws: Workspace) -> None:
    (ws.root / "in.txt").write_text("x")
    with pytest.raises(ToolError) as info:
        registry.call("copy_upper", {"source": "in.txt", "target": "o.txt", "fail_with": "tool_error"}, workspace=ws)
    assert info.value.code == "planned_failure"
    assert _records(ws)[-1]["error_code"] == "planned_failure"


def test_unexpected_exceptions_become_internal_error_with_the_traceback_kept_aside(ws: Workspace) -> None:
    (ws.root / "in.txt").write_text("x")
    with pytest.raises(ToolError) as info:
        registry.call(
            "copy_upper",
            {"source": "in.txt", "target": "o.txt", "fail_with": "crash", "api_key": "sk-live-zzz"},
            workspace=ws,
        )
    assert info.value.code == "internal_error"
    assert "sk-live-zzz" not in str(info.value)
    crashes = list((ws.state_dir / "crashes").iterdir())
    assert len(crashes) == 1 and "RuntimeError" in crashes[0].read_text()
    assert info.value.hint and crashes[0].name in info.value.hint


def test_output_may_not_overwrite_the_input(ws: Workspace) -> None:
    (ws.root / "in.txt").write_text("keep me")
    with pytest.raises(ToolError) as info:
        registry.call("copy_upper", {"source": "in.txt", "target": "./in.txt"}, workspace=ws)
    assert info.value.code == "output_is_input"
    assert (ws.root / "in.txt").read_text() == "keep me"


def test_unknown_tool_lists_the_known_ones() -> None:
    with pytest.raises(ToolError) as info:
        registry.get("no_such_tool")
    assert info.value.code == "unknown_tool" and "audit_log" in (info.value.hint or "")


def test_audit_chain_holds_across_calls(ws: Workspace) -> None:
    (ws.root / "in.txt").write_text("x")
    for i in range(5):
        registry.call("copy_upper", {"source": "in.txt", "target": f"o{i}.txt"}, workspace=ws)
    result = verify_log(AuditLog(ws))
    assert result.ok and result.records == 6  # the genesis record and five calls


def test_shipped_registry_lists_tools_in_module_order() -> None:
    names = [t.name for t in registry.all_tools()]
    assert "audit_log" in names and len(names) == len(set(names))


def test_nested_path_arguments_are_audited_by_hash(ws: Workspace) -> None:
    (ws.root / "a.txt").write_text("one\n")
    (ws.root / "b.txt").write_text("two\n")
    registry.call("merge_files", {"sources": [{"path": "a.txt"}, {"path": "b.txt"}], "target": "ab.txt"}, workspace=ws)
    (rec,) = _records(ws)
    files = {(f["arg"], f["path"], f["role"]) for f in rec["files"]}
    assert files == {
        ("sources.path", "a.txt", "input"),
        ("sources.path", "b.txt", "input"),
        ("target", "ab.txt", "output"),
    }
    assert all(f["sha256"] for f in rec["files"])


def _modules_declaring_tools() -> set[str]:
    """Every module under tools/ with a function decorated @tool(...), found by parsing (not importing)."""
    import ast
    from pathlib import Path

    root = Path(registry.__file__).resolve().parent.parent
    found = set()
    for path in root.rglob("*.py"):
        if "_bundle" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", None) == "tool" for d in node.decorator_list
            ):
                found.add(".".join(path.relative_to(root.parent).with_suffix("").parts))
    return found


def test_every_module_that_declares_a_tool_is_registered_and_nothing_else() -> None:
    registered = {t.module for t in registry.all_tools() if t.module.startswith("tools.")}
    assert registered == _modules_declaring_tools()


def test_declarations_are_complete_and_ordered_by_stage() -> None:
    specs = registry.all_tools()
    stages = [registry.STAGES.index(t.stage) for t in specs]
    assert stages == sorted(stages)
    by_name = {t.name: t for t in specs}
    assert by_name["stop_run"].destructive and by_name["resume_run"].destructive
    assert not by_name["validate_jsonl"].destructive
    for name in ("validate_jsonl", "estimate_cost", "scan_pii", "split_dataset"):
        assert by_name[name].effect == "write", f"{name} writes files; it may not be declared read-only"
    assert by_name["run_eval"].effect == "spend", "run_eval can bill an API and send the eval set out"
    assert {t.name for t in specs if t.gated} >= {"launch_lora", "resume_run", "run_eval", "launch_provider_job"}


def test_a_test_tool_is_gone_after_its_test(test_tools: list[str]) -> None:
    assert set(test_tools) <= {t.name for t in registry.all_tools()}
    registry.unregister("copy_upper")
    assert "copy_upper" not in {t.name for t in registry.all_tools()}
    registry.tool(effect="write", stage="data")(__import__("tests.support.tooldefs", fromlist=["x"]).copy_upper)


def test_a_tool_module_that_cannot_import_is_a_clear_registry_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "tool_modules", lambda: ("tools.no_such_module",))
    with pytest.raises(ToolError) as info:
        registry.all_tools()
    assert info.value.code == "registry_broken" and "tools.no_such_module" in info.value.message


def test_a_bad_stage_is_refused_at_declaration() -> None:
    from pydantic import BaseModel

    class In(BaseModel):
        x: int

    def nowhere(req: In) -> In:
        """Stands nowhere in the workflow."""
        return req

    with pytest.raises(TypeError, match="unknown stage"):
        registry.tool(effect="read", stage="nowhere")(nowhere)  # type: ignore[arg-type]


def test_a_call_to_an_unknown_tool_is_audited_without_echoing_it(ws: Workspace) -> None:
    with pytest.raises(ToolError):
        registry.call("no_such_tool sk-proj-AbCdEfGhIjKlMnOpQrStUvWx", {}, workspace=ws)
    (rec,) = _records(ws)
    assert rec["outcome"] == "error" and rec["error_code"] == "unknown_tool"
    assert "AbCdEfGhIjKlMnOp" not in (ws.state_dir / "audit.jsonl").read_text()
