"""finetune-skill tool functions: one module per tool, each a plain typed function.

Surfaces reach tools through :mod:`tools.registry`, never by importing tool modules directly.
"""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("finetune-skill")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
