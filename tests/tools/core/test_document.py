"""The neutral document: one presentation per result, rendered as markdown and in the terminal."""

from __future__ import annotations

import io

from rich.console import Console

from skill.console import show_document
from tools.core import registry
from tools.core.document import Bullets, Document, Finding, Findings, Pairs, Table, Text, to_markdown

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


def test_results_with_a_document_render_on_both_surfaces() -> None:
    """Every result model that defines document() is listed; each renders from a minimal instance."""
    with_documents = [t for t in registry.all_tools() if hasattr(t.output_model, "document")]
    assert {"decide_fit", "audit_log", "audit_report"} <= {t.name for t in with_documents}
