"""`read_reference`: one reference file, or one section of it, for an agent to read on demand."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import reference_dir

MAX_CHARS = 12_000
HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*$", re.MULTILINE)


class ReadReferenceRequest(BaseModel):
    """Which reference file (and optionally which section) to read."""

    file: str = Field(description="file name such as costs.md or data/pricing.yaml (see the list in SKILL.md)")
    section: str | None = Field(
        None, description="a heading in the file; its text up to the next heading of that level"
    )


class ReferenceText(BaseModel):
    file: str
    section: str | None
    text: str
    truncated: bool
    sections: list[str]


def available() -> list[str]:
    root = reference_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in {".md", ".yaml"})


def _section(text: str, wanted: str, file: str) -> str:
    headings = list(HEADING.finditer(text))
    for i, match in enumerate(headings):
        if match.group(2).strip().lower() == wanted.strip().lower():
            level = len(match.group(1))
            end = next((h.start() for h in headings[i + 1 :] if len(h.group(1)) <= level), len(text))
            return text[match.start() : end].rstrip() + "\n"
    names = ", ".join(h.group(2) for h in headings[:40])
    raise ToolError("section_not_found", f"{file} has no heading {wanted!r}", f"headings: {names}")


@tool(effect="read", stage="reference")
def read_reference(req: ReadReferenceRequest) -> ReferenceText:
    """Returns one reference file of the fine-tuning skill, or one section of it, as text.

    The reference files hold the sourced, dated knowledge: providers and their end dates, data
    preparation, training hyperparameters, evaluation, costs, compliance. Read the one SKILL.md
    points to instead of guessing facts; long files come back truncated, so ask for a section.
    """
    names = available()
    wanted = req.file.removeprefix("reference/")
    if wanted not in names:
        raise ToolError("reference_not_found", f"no reference file {req.file!r}", f"available: {', '.join(names)}")
    text = (reference_dir() / wanted).read_text("utf-8")
    headings = [m.group(2) for m in HEADING.finditer(text)]
    body = _section(text, req.section, wanted) if req.section else text
    truncated = len(body) > MAX_CHARS
    return ReferenceText(
        file=wanted, section=req.section, text=body[:MAX_CHARS], truncated=truncated, sections=headings[:80]
    )
