"""finetune-skill surfaces: CLI, agent loop, MCP server, skill packaging, and the Python API.

``tools_for`` and ``call`` are the entry points for agent frameworks (see :mod:`skill.api`).
"""

from __future__ import annotations

from typing import Any

from tools import __version__

__all__ = ["__version__", "call", "tools_for"]


def tools_for(flavour: str) -> list[dict[str, Any]]:
    from skill.api import tools_for as render

    return render(flavour)  # type: ignore[arg-type]


def call(name: str, args: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    from skill.api import call as run

    return run(name, args, **kwargs)
