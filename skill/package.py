"""Builds the distributable skill folder ``fine-tuning/`` (agentskills.io layout).

The folder is self-contained: SKILL.md, reference/ (markdown and data), prompts/, and
``scripts/finetune.py``, a launcher that runs the bundled copy of the ``tools`` and ``skill``
packages. Its PEP 723 header names the runtime dependencies, so ``uv run scripts/finetune.py``
works on a machine without the package; with the dependencies installed, plain ``python`` does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import tomllib

import tools
from skill import __file__ as skill_init
from tools.core.errors import ToolError
from tools.core.resources import bundle_root

SKILL_NAME = "fine-tuning"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "_bundle", ".DS_Store")

LAUNCHER = '''#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10"
# dependencies = [
{deps}
# ]
# ///
"""Runs the finetune command from this skill folder: `python scripts/finetune.py --help`.

Needs the packages listed above; `uv run scripts/finetune.py ...` installs them on the fly.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("FINETUNE_BUNDLE_ROOT", str(HERE.parent))
os.environ.setdefault("FINETUNE_SKILL_VERSION", "{version}")
sys.path.insert(0, str(HERE / "lib"))

try:
    from skill.cli import main
except ModuleNotFoundError as exc:
    sys.stderr.write(
        f"error: the Python package {{exc.name!r}} is missing.\\n"
        "  fix: run `uv run scripts/finetune.py ...`, or `pip install finetune-skill` and use `finetune`.\\n"
    )
    raise SystemExit(2) from None

if __name__ == "__main__":
    main()
'''


def runtime_dependencies() -> list[str]:
    """The core dependencies from pyproject.toml (a wheel install has them in its metadata)."""
    pyproject = Path(skill_init).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        return list(tomllib.loads(pyproject.read_text("utf-8"))["project"]["dependencies"])
    from importlib.metadata import requires

    return [r for r in (requires("finetune-skill") or []) if "extra ==" not in r]


def refuse_links(target: Path, stop: Path) -> None:
    """Refuse a destination that is a symlink, or has one inside it: it would be replaced or written through
    to somewhere the person did not name."""
    inside = [p for p in target.rglob("*") if p.is_symlink()] if target.is_dir() and not target.is_symlink() else []
    if target.is_symlink() or inside:
        link = target if target.is_symlink() else inside[0]
        raise ToolError(
            "skill_target_is_link",
            f"{link} is a symbolic link; installing would write through it",
            f"remove the link (or choose another folder than {stop}); nothing was changed",
        )


def build_skill(out_dir: Path) -> Path:
    """Write ``out_dir/fine-tuning/`` afresh and return its path."""
    src = bundle_root()
    target = out_dir / SKILL_NAME
    refuse_links(target, out_dir)
    if target.exists():
        if not (target / "SKILL.md").is_file():
            raise ToolError(
                "skill_target_not_ours",
                f"{target} exists and is not a built skill folder",
                "choose another --out folder; nothing was deleted",
            )
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(src / "SKILL.md", target / "SKILL.md")
    for folder in ("reference", "prompts"):
        if (src / folder).is_dir():
            shutil.copytree(src / folder, target / folder, ignore=_IGNORE)
    lib = target / "scripts" / "lib"
    for package in (Path(tools.__file__).parent, Path(skill_init).parent):
        shutil.copytree(package, lib / package.name, ignore=_IGNORE)
    deps = "\n".join(f'#   "{d}",' for d in runtime_dependencies())
    launcher = target / "scripts" / "finetune.py"
    launcher.write_text(LAUNCHER.format(deps=deps, version=tools.__version__), "utf-8")
    launcher.chmod(0o755)
    return target
