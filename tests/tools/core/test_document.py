"""The neutral document: one presentation per result, rendered as markdown and in the terminal."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from skill.console import show_document
from skill.report import render
from tests.conftest import REPO
from tools.core import registry
from tools.core.document import (
    Block,
    Bullets,
    Document,
    Finding,
    Findings,
    Image,
    Pairs,
    Table,
    Text,
    cell,
    to_markdown,
)
from tools.core.workspace import Workspace
from tools.decide.checklist import ChecklistAnswers

DOC = Document(
    title="Check",
    status="problems",
    headline="2 findings in [data.jsonl]",
    blocks=[
        Text(text="Read 3 lines."),
        Table(title="counts", headers=["code", "n", "share", "ok"], rows=[["dup|key", 1200, 0.25, True]]),
        Pairs(items=[("examples", 3)]),
        Findings(items=[Finding(severity="error", where="data.jsonl:2", code="bad", message="[red]x")], total=5),
        Bullets(items=["one"]),
    ],
    files=["reports/check.md"],
)


def test_markdown_carries_every_block() -> None:
    text = to_markdown(DOC)
    assert text.startswith("## Check\n")
    assert "| dup\\|key | 1,200 | 0.25 | yes |" in text
    assert "- **error** `data.jsonl:2` (bad): [red]x" in text and "4 more in the full report" in text
    assert "- examples: 3" in text and "- one" in text and "`reports/check.md`" in text


def test_the_terminal_shows_the_same_document_with_markup_escaped() -> None:
    buffer = io.StringIO()
    show_document(DOC, Console(file=buffer, width=120, color_system=None))
    out = buffer.getvalue()
    assert "2 findings in [data.jsonl]" in out and "[red]x" in out and "1,200" in out and "reports/check.md" in out


def test_cells_never_print_scientific_notation_for_plain_numbers() -> None:
    assert [cell(x) for x in (12345.0, 157.3, 0.000123, 1234567.8)] == ["12,345", "157.3", "0.000123", "1,234,568"]


# ---------------------------------------------------------------- every result with a document, from a real run

ANSWERS = REPO / "examples" / "answers.yaml"
REAL = REPO / "tests" / "data"


def _copy(ws: Workspace, source: Path, name: str) -> str:
    shutil.copy(source, ws.root / name)
    return name


def _answers() -> dict[str, Any]:
    data = yaml.safe_load(ANSWERS.read_text("utf-8"))
    return {k: v for k, v in data.items() if k in ChecklistAnswers.model_fields}


def _after_a_call(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    registry.call("record_answers", _answers(), workspace=ws)
    return args


def _examples(ws: Workspace) -> None:
    _copy(ws, REPO / "examples" / "train.jsonl", "train.jsonl")
    _copy(ws, REPO / "examples" / "eval.jsonl", "eval.jsonl")


RUNS: dict[str, Callable[[Workspace], dict[str, Any]]] = {
    "record_answers": lambda ws: _answers(),
    "decide_fit": lambda ws: _answers(),
    "prepare_data": lambda ws: {
        "path": _copy(ws, REAL / "datasets" / "bushir1_lsw_firm_booking_training_data.jsonl", "rows.jsonl"),
        "out": "rows.alpaca.jsonl",
        "to": "alpaca",
    },
    "split_dataset": lambda ws: {"path": _copy(ws, REPO / "examples" / "train.jsonl", "train.jsonl")},
    "validate_jsonl": lambda ws: _examples(ws) or {"paths": ["train.jsonl", "eval.jsonl"], "max_findings": 5},
    "scan_pii": lambda ws: (
        _examples(ws) or {"path": "train.jsonl", "redact": "train.redacted.jsonl", "max_findings": 5}
    ),
    "check_compliance": lambda ws: {"regimes": ["gdpr"], "residency": "eu"},
    "select_provider": lambda ws: {"privacy": "eu_personal_data", "training_tokens": 200_000},
    "estimate_cost": lambda ws: _examples(ws) or {"dataset": "train.jsonl", "monthly_requests": 150_000},
    "configure_training": lambda ws: _examples(ws) or {"dataset": "train.jsonl", "out_dir": "config"},
    "diagnose_loss": lambda ws: {
        "path": _copy(
            ws, REAL / "logs" / "real" / "hf_p4p4n1ck_whisper_large_v2_ja_fp16_trainer_state.json", "trainer_state.json"
        )
    },
    "facts_check": lambda ws: {"today": "2026-12-04"},
    "audit_log": lambda ws: _after_a_call(ws, {"action": "show"}),
    "audit_report": lambda ws: _after_a_call(ws, {"out": "audit.md"}),
}
SLOW = {"scan_pii"}


def test_every_result_with_a_document_has_a_real_run_here() -> None:
    with_documents = {t.name for t in registry.all_tools() if hasattr(t.output_model, "document")}
    assert with_documents == set(RUNS)


def _snippets(block: Block) -> list[str]:
    """Text that must show on both surfaces: the block's title and the start of its first item."""
    title = getattr(block, "title", None)
    found = [title] if title else []
    if isinstance(block, Text):
        found.append(block.text[:40])
    elif isinstance(block, Table) and block.rows:
        found.append(cell(block.rows[0][0]))
    elif isinstance(block, Pairs) and block.items:
        found.append(block.items[0][0])
    elif isinstance(block, Findings) and block.items:
        found.append(block.items[0].message[:40])
    elif isinstance(block, Bullets) and block.items:
        found.append(block.items[0][:40])
    elif isinstance(block, Image):
        found.append(block.path)
    return found


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(RUNS)])
def test_every_result_renders_its_document_from_a_real_run(ws: Workspace, name: str) -> None:
    result = registry.call(name, RUNS[name](ws), workspace=ws)
    doc = result.document()  # type: ignore[attr-defined]
    assert doc.blocks and doc.headline
    markdown = _flat(to_markdown(doc))
    buffer = io.StringIO()
    show_document(doc, Console(file=buffer, width=1000, color_system=None))
    terminal = _flat(buffer.getvalue())
    assert markdown.startswith(f"## {doc.title} _{doc.status}_: {_flat(doc.headline)}")
    assert terminal.startswith(_flat(f"{doc.title}: {doc.headline}"))
    for block in doc.blocks:
        for snippet in _snippets(block):
            assert _flat(snippet).replace("|", "\\|") in markdown, (type(block).__name__, snippet)
            assert _flat(snippet) in terminal, (type(block).__name__, snippet)
    assert all(path in terminal and f"`{path}`" in markdown for path in doc.files)
    for path in doc.files:
        assert (ws.root / path).is_file(), path
    again = registry.get(name).output_model.model_validate(result.model_dump(mode="json"))
    assert again.document() == doc  # transcripts and the demo render the JSON form later
    section = render(name, result.model_dump(mode="json"))
    assert (section.title, section.headline) == (doc.title, doc.headline)
    assert section.body == to_markdown(doc, with_title=False)
