"""`search_reference`: the passages of reference/*.md that best answer a question, each with its file and section.

Retrieval is BM25 (the ``bm25s`` library, Lucene's BM25 variant, with its longer English stopword list and the Snowball
stemmer from ``PyStemmer``) over passages: a paragraph, a list item or a table row (with its header row),
each labelled with the ``##``/``###`` section it sits in. "Contents" sections and the generated-table
markers are left out. The index is built once per process and rebuilt when a reference file changes.
A passage scores 0 when it shares no word with the question; those are never returned, so a question
the reference does not cover gets an empty list rather than the least bad passage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import reference_dir

SECTION = re.compile(r"^(#{2,3})\s+(.+?)\s*$")
LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+\.)\s+")
SKIP_LINE = re.compile(r"^\s*(<!--.*-->|\*Generated from .*\*)\s*$")
SKIP_SECTIONS = {"contents"}
MAX_PASSAGE_CHARS = 900
STOPWORDS = "en_plus"  # bm25s's longer English list (what, how, which, between...): questions are full sentences


class SearchReferenceRequest(BaseModel):
    """A question in the person's words."""

    query: str = Field(description="the question or keywords, e.g. 'difference between LoRA and QLoRA'")
    k: int | None = Field(None, ge=1, le=10, description="how many passages to return (default 3)")


class Passage(BaseModel):
    file: str = Field(description="reference file, e.g. training.md")
    section: str = Field(description="the heading of the section the passage sits in")
    text: str
    score: float = Field(description="BM25 score; only passages sharing words with the query are returned")


class SearchReferenceResult(BaseModel):
    query: str
    passages: list[Passage]
    searched: int = Field(description="passages in the index")
    files: list[str]


@dataclass(frozen=True)
class _Chunk:
    file: str
    section: str
    text: str
    scored: str  # what BM25 reads: a table row without its header row


def _blocks(lines: list[str]) -> list[tuple[str, str]]:
    """(shown, scored) for the paragraphs, list items and table rows of one section; a row is shown under the
    table's header row but scored on its own, so words of the header do not match every row."""
    blocks: list[tuple[str, str]] = []
    current: list[str] = []
    header: str | None = None
    fenced = False

    def flush() -> None:
        if current:
            text = "\n".join(current).strip()
            blocks.append((text, text))
            current.clear()

    for line in lines:
        if line.strip().startswith("```"):
            fenced = not fenced
            current.append(line)
            continue
        if fenced:
            current.append(line)
            continue
        if SKIP_LINE.match(line):
            continue
        if line.lstrip().startswith("|"):
            flush()
            if header is None:
                header = line.strip()
            elif not re.fullmatch(r"\|[\s:|-]+\|?", line.strip()):
                blocks.append((f"{header}\n{line.strip()}", line.strip()))
            continue
        header = None
        if not line.strip():
            flush()
        elif LIST_ITEM.match(line):
            flush()
            current.append(line.strip())
        else:
            current.append(line.strip())
    flush()
    return [b for b in blocks if re.search(r"\w", b[1])]


def chunks_of(file: str, text: str) -> list[_Chunk]:
    """The passages of one markdown file, each under the nearest ``##``/``###`` heading."""
    out: list[_Chunk] = []
    section: str | None = None
    body: list[str] = []

    def close() -> None:
        if section is not None and section.lower().lstrip("0123456789. ") not in SKIP_SECTIONS:
            out.extend(_Chunk(file, section, shown, scored) for shown, scored in _blocks(body))
        body.clear()

    for line in text.splitlines():
        match = SECTION.match(line)
        if match:
            close()
            section = match.group(2)
        else:
            body.append(line)
    close()
    return out


def _signature() -> tuple[tuple[str, int, int], ...]:
    root = reference_dir()
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.glob("*.md")) if p.name != "README.md"
    )


@lru_cache(maxsize=2)
def _index(signature: tuple[tuple[str, int, int], ...]) -> tuple[Any, list[_Chunk], Any]:
    import bm25s
    import Stemmer

    root = reference_dir()
    chunks = [c for name, _, _ in signature for c in chunks_of(name, (root / name).read_text("utf-8"))]
    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    corpus = [f"{c.section}\n{c.scored}" for c in chunks]
    retriever.index(
        bm25s.tokenize(corpus, stopwords=STOPWORDS, stemmer=stemmer, show_progress=False), show_progress=False
    )
    return retriever, chunks, stemmer


def search(query: str, k: int = 3) -> list[Passage]:
    """The ``k`` best passages for ``query`` that share at least one word with it, best first."""
    import bm25s

    retriever, chunks, stemmer = _index(_signature())
    tokens = bm25s.tokenize([query], stopwords=STOPWORDS, stemmer=stemmer, return_ids=False, show_progress=False)
    if not tokens or not tokens[0]:
        return []
    docs, scores = retriever.retrieve(tokens, k=min(k, len(chunks)), show_progress=False)
    found = []
    for i, score in zip(docs[0], scores[0], strict=True):
        if score <= 0:
            continue
        chunk = chunks[int(i)]
        text = chunk.text if len(chunk.text) <= MAX_PASSAGE_CHARS else chunk.text[:MAX_PASSAGE_CHARS].rstrip() + " ..."
        found.append(Passage(file=chunk.file, section=chunk.section, text=text, score=round(float(score), 3)))
    return found


@tool(effect="read", stage="reference")
def search_reference(req: SearchReferenceRequest) -> SearchReferenceResult:
    """Finds the passages of the reference files (providers, data preparation, training, evaluation, costs,
    compliance) that best answer a question, each with its file and section, ranked by BM25.

    Use it to answer a person's question from the skill's sourced, dated knowledge ("what is the difference
    between LoRA and QLoRA?", "how big should the eval set be?") and cite the file and section; read the whole
    section with read_reference when a passage is not enough. An empty list means the reference does not
    cover the question: say so instead of guessing.
    """
    query = req.query.strip()
    if not query:
        raise ToolError("empty_query", "the query is empty", "ask a question or give keywords")
    signature = _signature()
    passages = search(query, req.k or 3)
    return SearchReferenceResult(
        query=query,
        passages=passages,
        searched=len(_index(signature)[1]),
        files=[name for name, _, _ in signature],
    )
