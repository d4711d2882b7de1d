"""The check every result's document passes: the same blocks on the markdown and terminal surfaces, files that
exist, the same document from the JSON form, and the demo's section equal to it."""

from __future__ import annotations

import io

from pydantic import BaseModel
from rich.console import Console

from skill.console import show_document
from skill.report import render
from tools.core import registry
from tools.core.document import Block, Bullets, Findings, Image, Pairs, Table, Text, cell, to_markdown
from tools.core.workspace import Workspace


def snippets(block: Block) -> list[str]:
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


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_document_renders(ws: Workspace, name: str, result: BaseModel) -> None:
    doc = result.document()  # type: ignore[attr-defined]
    assert doc.blocks and doc.headline
    markdown = flat(to_markdown(doc))
    buffer = io.StringIO()
    show_document(doc, Console(file=buffer, width=1000, color_system=None))
    terminal = flat(buffer.getvalue())
    assert markdown.startswith(f"## {doc.title} _{doc.status}_: {flat(doc.headline)}")
    assert terminal.startswith(flat(f"{doc.title}: {doc.headline}"))
    for block in doc.blocks:
        for snippet in snippets(block):
            assert flat(snippet).replace("|", "\\|") in markdown, (type(block).__name__, snippet)
            assert flat(snippet) in terminal, (type(block).__name__, snippet)
    assert all(path in terminal and f"`{path}`" in markdown for path in doc.files)
    for path in doc.files:
        assert (ws.root / path).is_file(), path
    again = registry.get(name).output_model.model_validate(result.model_dump(mode="json"))
    assert again.document() == doc  # transcripts and the demo render the JSON form later
    section = render(name, result.model_dump(mode="json"))
    assert (section.title, section.headline) == (doc.title, doc.headline)
    assert section.body == to_markdown(doc, with_title=False)
