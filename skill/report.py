"""Markdown sections for tool results: what the demo report (and a saved walk) shows a person.

A result that defines ``document()`` is its own section (the same document the CLI prints); a result without
one (a tool from a plugin) falls back to its scalar fields. Sections are made from the JSON form of a result
(``model_dump(mode="json")``), so a transcript can be rendered long after the run.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from tools.core import registry
from tools.core.document import to_markdown
from tools.core.errors import ToolError

Status = Literal["ok", "found problems", "skipped", "failed", "declined"]


class Section(BaseModel):
    title: str
    status: Status
    headline: str
    body: str


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        text = (
            ""
            if value is None
            else f"{value:,}"
            if isinstance(value, int) and not isinstance(value, bool)
            else str(value)
        )
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _problems(data: dict[str, Any]) -> bool:
    return data.get("ok") is False or data.get("verdict") == "problems"


def _status(data: dict[str, Any]) -> Status:
    return "found problems" if _problems(data) else "ok"


def render_generic(name: str, data: dict[str, Any]) -> Section:
    scalars = [[k, v] for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None]
    lists = [k for k, v in data.items() if isinstance(v, list)]
    body = table(["field", "value"], scalars) if scalars else "```json\n" + json.dumps(data, indent=2)[:2000] + "\n```"
    if lists:
        body += "\n\nAlso in the result: " + ", ".join(f"`{k}` ({len(data[k])})" for k in lists) + "."
    headline = str(data.get("headline") or data.get("recommendation") or data.get("summary") or "done")
    return Section(title=name.replace("_", " "), status=_status(data), headline=headline[:160], body=body)


_STATUS: dict[str, Status] = {"ok": "ok", "problems": "found problems", "failed": "failed", "skipped": "skipped",
                              "declined": "declined"}  # fmt: skip


def render(name: str, data: dict[str, Any]) -> Section:
    """The section of a tool result: its own document when the result has one, else its scalar fields."""
    try:
        result = registry.get(name).output_model.model_validate(data)
    except (ToolError, ValueError):
        result = None
    if result is not None and hasattr(result, "document"):
        doc = result.document()
        return Section(title=doc.title, status=_STATUS[doc.status], headline=doc.headline,
                       body=to_markdown(doc, with_title=False))  # fmt: skip
    return render_generic(name, data)


def error_section(name: str, content: str, status: Status = "failed") -> Section:
    try:
        error = json.loads(content).get("error") or {}
    except (json.JSONDecodeError, AttributeError):
        error = {}
    message = error.get("message", content[:300])
    hint = f"\n\nfix: {error['hint']}" if error.get("hint") else ""
    return Section(
        title=name.replace("_", " "), status=status, headline=error.get("code", status), body=f"{message}{hint}"
    )
