from __future__ import annotations

import pytest

import skill
from tests.support.schema_rules import violations
from tools.core.workspace import Workspace


@pytest.mark.parametrize("flavour", ["anthropic", "openai-chat", "openai-responses", "mcp"])
def test_tools_for_every_flavour(flavour: str) -> None:
    rendered = skill.tools_for(flavour)
    assert rendered
    for tool in rendered:
        schema = (
            tool.get("input_schema")
            or tool.get("parameters")
            or tool.get("inputSchema")
            or tool["function"]["parameters"]
        )
        assert violations(schema) == []


def test_unknown_flavour() -> None:
    with pytest.raises(ValueError, match="unknown flavour"):
        skill.tools_for("gemini")


def test_call_returns_json_and_errors_as_data(ws: Workspace) -> None:
    ok = skill.call("audit_log", {"action": "verify"}, workspace=str(ws.root))
    assert ok["ok"] is True
    bad = skill.call("audit_log", {"action": "nope"}, workspace=str(ws.root))
    assert bad["error"]["code"] == "invalid_arguments"
