"""The shape of the code: what the import contracts cannot say."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PROJECT_PACKAGES = ("tools", "skill", "tests", "benchmarks")


def _python_files() -> list[Path]:
    files: list[Path] = []
    for top in PROJECT_PACKAGES:
        files += [p for p in (REPO / top).rglob("*.py") if "_bundle" not in p.parts]
    return files


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


def test_no_module_imports_another_modules_underscore_names() -> None:
    """An underscore means "this file only"; sharing a name means making it public."""
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if node.module.split(".")[0] not in PROJECT_PACKAGES or node.module == _module_name(path):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    offenders.append(f"{path.relative_to(REPO)}: from {node.module} import {alias.name}")
    assert offenders == []


def test_tests_mirror_the_tree() -> None:
    """tests/tools/<package>/ exists for every package under tools/ that has tests, and nothing else."""
    packages = {p.name for p in (REPO / "tools").iterdir() if (p / "__init__.py").is_file()}
    mirrored = {p.name for p in (REPO / "tests" / "tools").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert mirrored <= packages, f"test folders without a package: {sorted(mirrored - packages)}"
