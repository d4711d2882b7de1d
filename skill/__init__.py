"""finetune-skill surfaces: CLI, agent loop, MCP server, skill packaging."""

from tools import __version__

__all__ = ["__version__"]
