"""Rendering an Ollama TEMPLATE with Go's own text/template (package go-template: a cgo build of Go's library), the
way Ollama executes it: over ``.Messages`` (each with ``.Role`` and ``.Content``) and ``.System``.

The library aborts the process on a template error, so it runs in a child process. Ollama's ``collate`` merges
consecutive messages of one role; the conversations used here never have two in a row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_RUN = """
import sys
import go_template
go_template.render_template(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import go_template"], capture_output=True, timeout=60)
    return probe.returncode == 0


def render(template: str, messages: list[dict[str, str]], tmp: Path) -> str:
    """``template`` executed with Ollama's values for ``messages``; AssertionError with Go's message on a failure."""
    tmp.mkdir(parents=True, exist_ok=True)
    tpl, values, out = tmp / "t.gotmpl", tmp / "values.json", tmp / "out.txt"
    tpl.write_text(template, "utf-8")
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    msgs = [{"Role": m["role"], "Content": m["content"]} for m in messages]
    values.write_text(json.dumps({"Messages": msgs, "System": system, "Response": ""}), "utf-8")
    out.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(tpl), str(values), str(out)], capture_output=True, timeout=60
    )
    assert proc.returncode == 0 and out.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    return out.read_text("utf-8")


__all__ = ["available", "render"]
