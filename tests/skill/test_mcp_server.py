"""The MCP server through the official MCP client over stdio (a real subprocess)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support.schema_rules import violations
from tools.core.workspace import Workspace


def _params(ws: Workspace) -> StdioServerParameters:
    exe = str(Path(sys.executable).with_name("finetune"))
    return StdioServerParameters(
        command=exe, args=["--workspace", str(ws.root), "mcp"], env={"HF_HUB_OFFLINE": "1"}, cwd=str(ws.root)
    )


async def _session_run(ws: Workspace, body) -> None:
    async with stdio_client(_params(ws)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await body(session)


def run(ws: Workspace, body) -> None:
    anyio.run(_session_run, ws, body)


def test_lists_tools_prompts_and_resources(ws: Workspace) -> None:
    async def body(session: ClientSession) -> None:
        tools = (await session.list_tools()).tools
        names = {t.name for t in tools}
        assert "audit_log" in names
        for tool in tools:
            assert violations(tool.input_schema) == [], tool.name
            assert tool.annotations is not None
        prompts = (await session.list_prompts()).prompts
        prompt_names = {p.name for p in prompts}
        assert {"fine-tune-walk", "ft-decide", "ft-data", "ft-diagnose"} <= prompt_names
        walk = await session.get_prompt("fine-tune-walk", {})
        assert "Step 1." in walk.messages[0].content.text
        step = await session.get_prompt("ft-data", {"dataset": "data/train.jsonl"})
        assert "dataset: data/train.jsonl" in step.messages[0].content.text
        resources = (await session.list_resources()).resources
        if resources:
            first = await session.read_resource(resources[0].uri)
            assert first.contents[0].text

    run(ws, body)


def test_call_tool_ok_and_error_without_killing_the_server(ws: Workspace) -> None:
    async def body(session: ClientSession) -> None:
        bad = await session.call_tool("audit_log", {"action": "explode"})
        assert bad.is_error
        assert json.loads(bad.content[0].text)["error"]["code"] == "invalid_arguments"
        unknown = await session.call_tool("no_such_tool", {})
        assert unknown.is_error and "unknown_tool" in unknown.content[0].text
        good = await session.call_tool("audit_log", {"action": "verify", "limit": None})
        assert not good.is_error
        assert good.structured_content["ok"] is True

    run(ws, body)


@pytest.mark.parametrize("path", ["../outside.jsonl", "/etc/passwd"])
def test_workspace_policy_holds_over_mcp(ws: Workspace, path: str) -> None:
    """A path argument that leaves the workspace is refused as a tool error (when a tool takes paths)."""
    from tools.core import registry
    from tools.core.fields import path_fields

    candidates = []
    for spec in registry.all_tools():
        required = [n for n, f in spec.input_model.model_fields.items() if f.is_required()]
        inputs = [n for n, role in path_fields(spec.input_model).items() if role == "input"]
        if len(required) == 1 and required[0] in inputs:
            candidates.append((spec, required[0]))
    if not candidates:
        pytest.skip("no registered tool takes just an input path yet")

    async def body(session: ClientSession) -> None:
        for spec, arg in candidates:
            is_list = spec.input_model.model_json_schema()["properties"][arg].get("type") == "array"
            result = await session.call_tool(spec.name, {arg: [path] if is_list else path})
            assert result.is_error, spec.name
            assert "path_outside_workspace" in result.content[0].text, result.content[0].text

    run(ws, body)


def test_the_entry_that_install_writes_starts_a_working_server(tmp_path: Path) -> None:
    from skill.install import SERVER_KEY, install

    project = tmp_path / "project"
    project.mkdir()
    install("claude-code", "project", project=project, home=tmp_path / "home")
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"][SERVER_KEY]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=str(tmp_path))

    async def go() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("audit_log", {"action": "verify", "limit": None})
            assert result.structured_content["path"] == ".finetune/audit.jsonl"

    anyio.run(go)


def test_real_tools_over_mcp_with_progress_and_no_spending_without_confirm(ws: Workspace) -> None:
    import shutil

    from tests.conftest import REPO

    shutil.copy(REPO / "examples" / "train.jsonl", ws.root / "train.jsonl")
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        notes.append((done, total, message))

    async def body(session: ClientSession) -> None:
        checked = await session.call_tool("validate_jsonl", {"paths": ["train.jsonl"]}, progress_callback=on_progress)
        assert not checked.is_error
        assert checked.structured_content["ok"] is False
        assert any(f["line"] == 71 for f in checked.structured_content["findings"])
        cost = await session.call_tool(
            "estimate_cost", {"provider": "openai", "model": "gpt-4.1-mini", "training_tokens": 1_000_000, "epochs": 3}
        )
        assert not cost.is_error, cost.content[0].text
        dry = await session.call_tool("launch_lora", {"data": "train.jsonl", "model": "tiny-random-llama"})
        assert not dry.is_error and dry.structured_content["started"] is False

    run(ws, body)
    assert notes and any("scanning train.jsonl" in (m or "") for _, _, m in notes)
    assert not (ws.root / "runs").exists() or not any((ws.root / "runs").iterdir())


MALFORMED = [
    "{",
    "not json at all",
    "[]",
    "[1, 2]",
    "null",
    '"a string"',
    "42",
    '{"jsonrpc": "2.0"}',
    '{"jsonrpc": "1.0", "id": 1, "method": "ping"}',
    '{"id": 2, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": {}, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": true, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 3, "method": 5}',
    '{"jsonrpc": "2.0", "id": 4, "method": "ping", "params": []}',
    "[" * 500,
    '{"jsonrpc": "2.0", "id": 5, "method": "ping"' + "}" * 3,
    '{"jsonrpc": "2.0", "id": 6, "result": {}, "error": {"code": 1, "message": "x"}}',
    '{"jsonrpc": "2.0", "id": 7, "method": "ping"}\x00',
    '\ufeff{"jsonrpc": "2.0", "id": 8}',
    '{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "audit_log", "arguments": '
    + '{"a":' * 80
    + "1"
    + "}" * 80
    + "}}",
]
HOSTILE_VALID = [
    '{"jsonrpc": "2.0", "id": 101, "method": "tools/call", "params": {"name": "audit_log", "arguments": '
    '{"action": "show", "limit": ' + "9" * 5000 + "}}}",
    '{"jsonrpc": "2.0", "id": 102, "method": "tools/call", "params": {"name": "audit_log", "arguments": '
    '{"action": "show", "limit": [[[[[[[[[[1]]]]]]]]]]}}}',
]


def test_every_malformed_frame_gets_a_json_rpc_error_and_the_server_lives(ws: Workspace) -> None:
    """Raw frames on the wire: each malformed one is answered (-32700/-32600/-32602); then a ping still works."""
    import subprocess

    exe = str(Path(sys.executable).with_name("finetune"))
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    frames = [json.dumps(init), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})]
    frames += MALFORMED + HOSTILE_VALID + ['{"jsonrpc": "2.0", "id": 999, "method": "ping"}']
    proc = subprocess.Popen(
        [exe, "--workspace", str(ws.root), "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=str(ws.root),
    )  # fmt: skip
    assert proc.stdin and proc.stdout
    proc.stdin.write("\n".join(frames) + "\n")
    proc.stdin.flush()
    lines: list[str] = []
    wanted = {0, 101, 102, 999}
    import select
    import time

    deadline = time.monotonic() + 120
    while wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        wanted.discard(json.loads(line).get("id"))
    proc.stdin.close()
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.wait(30)
    assert not wanted, f"no answer to {wanted}"
    replies = [json.loads(line) for line in lines if line.strip()]
    errors = [r for r in replies if "error" in r]
    assert len(errors) >= len(MALFORMED), (len(errors), lines[-5:], stderr[-2000:])
    assert all(r["error"]["code"] in (-32700, -32600, -32602, -32601) for r in errors)
    by_id = {r.get("id"): r for r in replies}
    for request_id in (101, 102):
        answer = by_id[request_id]
        assert "error" in answer or answer["result"].get("isError"), answer
    assert by_id[999].get("result") == {}, "the server must still answer after the hostile frames"
    assert "Traceback" not in stderr
