"""LLM backends for the agent: one small interface, ``complete(messages, tools) -> Turn``.

- ``anthropic``: Messages API tool use with prompt caching (tools.llm.anthropic_backend).
- ``openai``: Chat Completions strict function tools, also any OpenAI-compatible server through a
  base URL (tools.llm.openai_backend).
- ``guide``: the offline policy, built by the agent loop; :func:`select_backend` returns a
  selection without a backend object for it.

SDK imports happen when a backend is built, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.llm.base import (
    AssistantMessage,
    History,
    LLMBackend,
    Message,
    RetryPolicy,
    StopReason,
    SystemPrompt,
    ToolCall,
    ToolResultMessage,
    Turn,
    Usage,
    UsageLedger,
    UsageSummary,
    UserMessage,
)

if TYPE_CHECKING:
    from tools.llm.anthropic_backend import AnthropicBackend
    from tools.llm.openai_backend import OpenAIBackend
    from tools.llm.select import Selection, select_backend

__all__ = [
    "AnthropicBackend",
    "AssistantMessage",
    "History",
    "LLMBackend",
    "Message",
    "OpenAIBackend",
    "RetryPolicy",
    "Selection",
    "StopReason",
    "SystemPrompt",
    "ToolCall",
    "ToolResultMessage",
    "Turn",
    "Usage",
    "UsageLedger",
    "UsageSummary",
    "UserMessage",
    "select_backend",
]

_LAZY = {
    "AnthropicBackend": "tools.llm.anthropic_backend",
    "OpenAIBackend": "tools.llm.openai_backend",
    "Selection": "tools.llm.select",
    "select_backend": "tools.llm.select",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tools.llm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
