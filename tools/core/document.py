"""One presentation per result: a neutral document (headline, tables, findings, notes) that every surface
renders in its own way.

A result model that people read defines ``document(self) -> Document``: what to show, once. The CLI renders
it with rich (:func:`skill.console.show_document`), reports and the demo render it as markdown
(:func:`to_markdown`); neither knows the result's fields. Agents get the JSON result itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "problems", "failed", "skipped", "declined"]
Severity = Literal["error", "warning", "info"]
Cell = bool | int | float | str | None


class Text(BaseModel):
    kind: Literal["text"] = "text"
    text: str


class Table(BaseModel):
    kind: Literal["table"] = "table"
    title: str | None = None
    headers: list[str]
    rows: list[list[Cell]]


class Pairs(BaseModel):
    """Labelled values, one per line (what a run is, what was counted)."""

    kind: Literal["pairs"] = "pairs"
    title: str | None = None
    items: list[tuple[str, Cell]]


class Finding(BaseModel):
    severity: Severity
    message: str
    where: str | None = None
    code: str | None = None


class Findings(BaseModel):
    kind: Literal["findings"] = "findings"
    title: str | None = None
    items: list[Finding]
    total: int | None = Field(None, description="how many there are in all when only the top ones are listed")


class Bullets(BaseModel):
    kind: Literal["bullets"] = "bullets"
    title: str | None = None
    items: list[str]


class Image(BaseModel):
    kind: Literal["image"] = "image"
    alt: str
    path: str


Block = Annotated[Text | Table | Pairs | Findings | Bullets | Image, Field(discriminator="kind")]


class Document(BaseModel):
    title: str
    status: Status
    headline: str
    blocks: list[Block] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list, description="reports and outputs written, workspace-relative")


def cell(value: Cell) -> str:
    """A cell as text: thousands separators for numbers, four significant digits below 1,000 (never 1.234e+04),
    nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _md_cell(value: Cell) -> str:
    return cell(value).replace("|", "\\|").replace("\n", " ")


def _md_block(block: Block) -> list[str]:
    lines: list[str] = []
    title = getattr(block, "title", None)
    if title:
        lines += [f"**{title}**", ""]
    if isinstance(block, Text):
        lines.append(block.text)
    elif isinstance(block, Table):
        lines.append("| " + " | ".join(block.headers) + " |")
        lines.append("|" + "---|" * len(block.headers))
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in block.rows]
    elif isinstance(block, Pairs):
        lines += [f"- {key}: {cell(value)}" for key, value in block.items]
    elif isinstance(block, Findings):
        for f in block.items:
            where = f" `{f.where}`" if f.where else ""
            code = f" ({f.code})" if f.code else ""
            lines.append(f"- **{f.severity}**{where}{code}: {f.message}")
        if block.total is not None and block.total > len(block.items):
            lines.append(f"- ... {block.total - len(block.items)} more in the full report")
    elif isinstance(block, Bullets):
        lines += [f"- {item}" for item in block.items]
    elif isinstance(block, Image):
        lines.append(f"![{block.alt}]({block.path})")
    return lines


def to_markdown(doc: Document, *, level: int = 2, with_title: bool = True) -> str:
    """The document as markdown: a heading (optional), the headline, then each block."""
    lines: list[str] = []
    if with_title:
        lines += [f"{'#' * level} {doc.title}", ""]
    lines += [f"_{doc.status}_: {doc.headline}", ""]
    for block in doc.blocks:
        lines += _md_block(block) + [""]
    if doc.files:
        lines.append("Files: " + ", ".join(f"`{f}`" for f in doc.files))
    return "\n".join(lines).rstrip() + "\n"
