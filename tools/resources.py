"""Finds the files that ship beside the code: SKILL.md, reference/ and prompts/.

In a wheel they are force-included under ``skill/_bundle/``; in an editable install or a plain
checkout they are at the repository root. Code asks here and never builds those paths itself.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

_BUNDLE = "_bundle"


@cache
def bundle_root() -> Path:
    """The folder that holds SKILL.md, reference/ and prompts/."""
    packaged = Path(str(resources.files("skill"))) / _BUNDLE
    if (packaged / "SKILL.md").is_file():
        return packaged
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "SKILL.md").is_file():
        return checkout
    raise FileNotFoundError(
        f"finetune-skill data files not found in {packaged} or {checkout}; reinstall the package"
    )


def reference_dir() -> Path:
    return bundle_root() / "reference"


def reference_data_dir() -> Path:
    return reference_dir() / "data"


def prompts_dir() -> Path:
    return bundle_root() / "prompts"


def skill_md() -> Path:
    return bundle_root() / "SKILL.md"
