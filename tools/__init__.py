"""finetune-skill tool functions: one module per tool, each a plain typed function.

Surfaces reach tools through :mod:`tools.core.registry`, never by importing tool modules directly.
"""

from __future__ import annotations

import os
from importlib import metadata


def _version() -> str:
    """The installed version; a built skill folder's launcher passes its own in the environment."""
    try:
        return metadata.version("finetune-skill")
    except metadata.PackageNotFoundError:
        return os.environ.get("FINETUNE_SKILL_VERSION", "0+unknown")


__version__ = _version()
