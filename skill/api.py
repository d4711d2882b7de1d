"""The Python API for agent frameworks: tool definitions in each API's shape, and one call path.

from skill import tools_for, call
tools = tools_for("anthropic")            # or "openai-chat", "openai-responses", "mcp"
result = call("audit_log", {"action": "verify"})   # a dict; errors as {"error": {...}}
"""

from __future__ import annotations

from typing import Any, Literal

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.schemas import anthropic_tools, mcp_tool, openai_chat_tool, openai_responses_tool
from tools.core.workspace import Workspace

Flavour = Literal["anthropic", "openai-chat", "openai-responses", "mcp"]


def tools_for(flavour: Flavour) -> list[dict[str, Any]]:
    """Every registered tool, rendered for one API."""
    specs = registry.all_tools()
    if flavour == "anthropic":
        return anthropic_tools(specs)
    renderers = {"openai-chat": openai_chat_tool, "openai-responses": openai_responses_tool, "mcp": mcp_tool}
    if flavour not in renderers:
        raise ValueError(f"unknown flavour {flavour!r}; use one of anthropic, {', '.join(renderers)}")
    return [renderers[flavour](spec) for spec in specs]


def call(
    name: str, args: dict[str, Any] | None = None, *, workspace: str | None = None, raise_errors: bool = False
) -> dict[str, Any]:
    """Run a tool and return its JSON-ready result; a ToolError comes back as ``{"error": ...}``."""
    try:
        result = registry.call(name, args or {}, workspace=Workspace(workspace), actor="api")
    except ToolError as exc:
        if raise_errors:
            raise
        return {"error": exc.info().model_dump()}
    return result.model_dump(mode="json")
