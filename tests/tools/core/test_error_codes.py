"""The error catalogue: every code raised is listed once, under a category that decides the exit code."""

from __future__ import annotations

import ast

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from tools.core import error_codes
from tools.core.error_table import fill
from tools.core.errors import ToolError

ERROR_CLASSES = {"ToolError"}


def _literals(node: ast.expr) -> list[str]:
    """The string literals an expression can evaluate to: a literal, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _raised_codes() -> dict[str, str]:
    """Every code passed to ToolError in tools/ and skill/: literals, or a variable named ``code`` assigned them."""
    found: dict[str, str] = {}
    for top in ("tools", "skill"):
        for path in (REPO / top).rglob("*.py"):
            if "_bundle" in path.parts:
                continue
            tree = ast.parse(path.read_text("utf-8"))
            assigned = [
                value
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets)
                for value in _literals(node.value)
            ]
            for node in ast.walk(tree):
                name = getattr(getattr(node, "func", None), "id", None) or getattr(
                    getattr(node, "func", None), "attr", None
                )
                if not (isinstance(node, ast.Call) and name in ERROR_CLASSES and node.args):
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                first = node.args[0]
                if isinstance(first, ast.Name) and first.id == "code":
                    codes = assigned
                else:
                    codes = _literals(first)
                if not codes:
                    pytest.fail(
                        f"{where}: the error code must be a literal (or a variable named code assigned literals)"
                    )
                for code in codes:
                    found.setdefault(code, where)
    return found


def test_every_raised_code_is_in_the_catalogue() -> None:
    raised = _raised_codes()
    missing = {code: where for code, where in raised.items() if code not in error_codes.CATALOGUE}
    assert missing == {}, "add these codes to tools/core/error_codes.py under their category"


def test_each_code_has_one_category() -> None:
    groups = [error_codes.INPUT, error_codes.SETUP, error_codes.PROBLEM, error_codes.EXTERNAL, error_codes.INTERNAL]
    seen: set[str] = set()
    for group in groups:
        assert not (seen & group), sorted(seen & group)
        seen |= group
    assert set(error_codes.EXIT_CODES) == {"input", "setup", "problem", "external", "internal"}


def test_the_readme_table_is_generated_from_the_catalogue() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    assert fill(readme) == readme, "regenerate with tools.core.error_table.fill"


def test_an_error_knows_its_category() -> None:
    assert ToolError("file_not_found", "x").info().category == "input"
    assert ToolError("provider_unreachable", "x").category == "external"
    assert ToolError("not_in_catalogue", "x").category == "internal"


@pytest.mark.parametrize(("code", "exit_code"), [("file_not_found", 2), ("provider_busy", 3), ("audit_corrupt", 1)])
def test_the_cli_exits_with_the_category_code(
    monkeypatch: pytest.MonkeyPatch, in_ws, code: str, exit_code: int
) -> None:
    from skill import console
    from skill.cli import app

    def failing(*_a, **_k):
        raise ToolError(code, "planned", "none")

    monkeypatch.setattr(console.registry, "call", failing)
    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    assert result.exit_code == exit_code, result.output
    assert f'"category": "{error_codes.category_of(code)}"' in result.stdout
