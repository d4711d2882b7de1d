"""The tables in reference/*.md are generated from reference/data and do not drift; no price hides in code."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tools.core.errors import ToolError
from tools.core.resources import reference_dir
from tools.facts import tables as fact_tables

REPO = Path(__file__).resolve().parent.parent.parent.parent
runner = CliRunner()


def test_generated_tables_do_not_drift() -> None:
    files = sorted(reference_dir().glob("*.md"))
    assert {p.name for p in files} >= {
        "providers.md",
        "data-prep.md",
        "training.md",
        "evaluation.md",
        "costs.md",
        "compliance.md",
    }
    used: set[str] = set()
    for path in files:
        text, rendered = fact_tables.render_file(path)
        assert text == rendered, f"{path.name}: tables differ from reference/data; run `finetune facts render`"
        used.update(fact_tables.tables_in(text))
    assert used == set(fact_tables.TABLES), f"tables never used: {set(fact_tables.TABLES) - used}"


def test_drift_is_detected() -> None:
    text = (reference_dir() / "costs.md").read_text("utf-8")
    tampered = re.sub(r"\$5\.00", "$4.00", text, count=1)
    assert tampered != text
    assert fact_tables.render_text(tampered) == text
    with pytest.raises(ToolError):
        fact_tables.render_text("<!-- facts:begin nope -->\n<!-- facts:end nope -->")


SIX = ("providers.md", "data-prep.md", "training.md", "evaluation.md", "costs.md", "compliance.md")


def test_reference_files_open_with_date_and_contents() -> None:
    for path in (reference_dir() / name for name in SIX):
        head = path.read_text("utf-8").splitlines()[:12]
        assert any(re.search(r"[Aa]s of 20\d\d-\d\d-\d\d", line) for line in head), path.name
        assert any(line.strip().lower().startswith("## contents") for line in head), path.name


def test_render_check_cli() -> None:
    result = runner.invoke(app, ["facts", "render", "--check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["drift"] is False


# --------------------------------------------------------------------------------- no prices in code

PRICE_NAME = re.compile(r"(price|cost|usd|fee|per_1m|per_hour|hourly|dollar)", re.IGNORECASE)
DOLLAR_AMOUNT = re.compile(r"\$\s?\d")


def hard_coded_prices(source: str, filename: str) -> list[str]:
    """Numeric literals bound to price-like names, and dollar amounts in non-docstring strings."""
    tree = ast.parse(source, filename)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    found: list[str] = []

    def numbers(value: ast.AST) -> list[float]:
        return [
            n.value
            for n in ast.walk(value)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, int | float)
            and not isinstance(n.value, bool)
            and n.value not in (0, 1)
        ]

    for node in ast.walk(tree):
        targets: list[tuple[str, ast.AST]] = []
        if isinstance(node, ast.Assign):
            targets = [(ast.unparse(t), node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [(ast.unparse(node.target), node.value)]
        elif isinstance(node, ast.keyword) and node.arg:
            targets = [(node.arg, node.value)]
        elif isinstance(node, ast.Dict):
            targets = [
                (k.value, v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
        for name, value in targets:
            if PRICE_NAME.search(name) and numbers(value):
                found.append(f"{filename}:{node.lineno}: {name} = {ast.unparse(value)[:40]}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if DOLLAR_AMOUNT.search(node.value):
                found.append(f"{filename}:{node.lineno}: dollar amount in {node.value[:40]!r}")
    return found


def test_price_detector_catches_prices() -> None:
    bad = 'TRAINING_PRICE = 25.0\nx = f(cost_per_hour=1.70)\nd = {"usd": 3.2}\nmsg = "costs $15 to train"\n'
    assert len(hard_coded_prices(bad, "bad.py")) == 4
    good = '"""Costs $15 in the docs example."""\nPER_MILLION = 1_000_000\nprice = row.price_usd * tokens\n'
    assert hard_coded_prices(good, "good.py") == []


def test_no_hard_coded_prices_in_tools() -> None:
    """Every module of every tool package (the check used to look at tools/*.py only, which the package layout
    left empty)."""
    files = sorted((REPO / "tools").rglob("*.py"))
    assert len(files) > 50
    found: list[str] = []
    for path in files:
        found += hard_coded_prices(path.read_text("utf-8"), str(path.relative_to(REPO)))
    assert found == [], "prices belong in reference/data/*.yaml:\n" + "\n".join(found)
