"""The reports ``scan_pii`` writes: the full JSON and a Markdown page for people (the result's report document,
samples masked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.core.document import to_markdown
from tools.pii.models import PiiFinding, ReviewSample, ScanPiiResult


def relative(ws: Any, path: Path) -> str:
    try:
        return ws.relative(path)
    except ValueError:
        return str(path)


def write(path: Path, result: ScanPiiResult, findings: list[dict[str, Any]], review: list[ReviewSample]) -> None:
    from tools.core.workspace import write_text_atomic

    data = result.model_dump(mode="json")
    data["findings"] = findings
    if data.get("redaction"):
        data["redaction"]["review"] = [r.model_dump(mode="json") for r in review]
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    doc = result.report_document([PiiFinding.model_validate(f) for f in findings], review)
    write_text_atomic(path.with_suffix(".md"), to_markdown(doc, level=1))
