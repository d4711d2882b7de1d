"""search_reference: BM25 (bm25s) over the passages of reference/*.md, each with its file and section."""

from __future__ import annotations

import pytest

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.facts.search_reference import chunks_of, search


@pytest.mark.parametrize(
    "question, file, section",
    [
        (
            "how do I remove personal data like emails before training",
            "compliance.md",
            "2. Personal data before training",
        ),
        ("how big should the eval set be", "evaluation.md", "2. The eval set"),
        ("which learning rate for LoRA", "training.md", None),
    ],
)
def test_questions_find_their_section(question: str, file: str, section: str | None) -> None:
    found = search(question, 3)
    assert found and found[0].score >= found[-1].score > 0
    assert any(p.file == file and (section is None or p.section == section) for p in found), found


def test_a_question_the_reference_does_not_cover_gets_nothing(ws: Workspace) -> None:
    result = registry.call("search_reference", {"query": "what is the weather in Paris?"}, workspace=ws)
    assert result.passages == [] and result.searched > 100 and "training.md" in result.files
    with pytest.raises(ToolError) as info:
        registry.call("search_reference", {"query": "   "}, workspace=ws)
    assert info.value.code == "empty_query"


def test_passages_follow_the_markdown() -> None:
    text = (
        "# Title\n\n## Contents\n- [a](#a)\n\n## 1. Sizes\nFirst paragraph\ncontinues here.\n\n- item one\n- item two\n"
        "  continued\n\n| model | memory |\n|---|---|\n| 8B | 16 GB |\n<!-- facts:end x -->\n### 1.1 Deeper\nText.\n"
    )
    chunks = [(c.section, c.text, c.scored) for c in chunks_of("x.md", text)]
    assert chunks == [
        ("1. Sizes", "First paragraph\ncontinues here.", "First paragraph\ncontinues here."),
        ("1. Sizes", "- item one", "- item one"),
        ("1. Sizes", "- item two\ncontinued", "- item two\ncontinued"),
        ("1. Sizes", "| model | memory |\n| 8B | 16 GB |", "| 8B | 16 GB |"),
        ("1.1 Deeper", "Text.", "Text."),
    ]
