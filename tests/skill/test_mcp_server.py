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
