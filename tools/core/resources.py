"""Finds the files that ship beside the code: SKILL.md, reference/ and prompts/.

In a wheel they are force-included under ``tools/_bundle/``; in an editable install or a plain
checkout they are at the repository root. Code asks here and never builds those paths itself.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_BUNDLE = "_bundle"
BUNDLE_ENV = "FINETUNE_BUNDLE_ROOT"


@cache
def bundle_root() -> Path:
    """The folder that holds SKILL.md, reference/ and prompts/.

    ``FINETUNE_BUNDLE_ROOT`` wins when set: the launcher in a built skill folder points it at the
    skill folder itself.
    """
    override = os.environ.get(BUNDLE_ENV)
    if override and (Path(override) / "SKILL.md").is_file():
        return Path(override)
    package_root = Path(__file__).resolve().parent.parent
    packaged = package_root / _BUNDLE
    if (packaged / "SKILL.md").is_file():
        return packaged
    checkout = package_root.parent
    if (checkout / "SKILL.md").is_file():
        return checkout
    raise FileNotFoundError(f"finetune-skill data files not found in {packaged} or {checkout}; reinstall the package")


def reference_dir() -> Path:
    return bundle_root() / "reference"


def reference_data_dir() -> Path:
    return reference_dir() / "data"


def prompts_dir() -> Path:
    return bundle_root() / "prompts"


def skill_md() -> Path:
    return bundle_root() / "SKILL.md"


def examples_dir() -> Path:
    return bundle_root() / "examples"
