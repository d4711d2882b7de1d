"""Property: mutating one line of a valid file never crashes the validator, and every per-line
finding it reports points at the mutated line."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.format_samples import chat
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace

BASE = [json.dumps(chat(i)) for i in range(1, 13)]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_line(draw: st.DrawFn) -> tuple[int, bytes]:
    index = draw(st.integers(0, len(BASE) - 1))
    raw = BASE[index].encode()
    kind = draw(st.sampled_from(["bytes", "truncate", "insert", "structure", "value"]))
    if kind == "bytes":
        pos = draw(st.integers(0, len(raw) - 1))
        new = draw(st.binary(min_size=1, max_size=4).filter(lambda b: b"\n" not in b and b"\r" not in b))
        raw = raw[:pos] + new + raw[pos + 1 :]
    elif kind == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif kind == "insert":
        pos = draw(st.integers(0, len(raw)))
        text = draw(st.text(max_size=8).filter(lambda t: "\n" not in t and "\r" not in t and "\x00" not in t))
        raw = raw[:pos] + text.encode("utf-8", "surrogatepass") + raw[pos:]
    else:
        obj = json.loads(raw)
        msgs = obj["messages"]
        which = draw(st.integers(0, len(msgs) - 1))
        key = draw(st.sampled_from(["role", "content", "weight", "tool_calls", "name", "extra"]))
        if kind == "structure":
            target = draw(st.sampled_from(["message", "messages", "top"]))
            value = draw(json_values)
            if target == "message":
                msgs[which] = value
            elif target == "messages":
                obj["messages"] = value
            else:
                obj = value
        else:
            msgs[which][key] = draw(json_values)
        raw = json.dumps(obj).encode()
    return index + 1, raw


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_line())
def test_mutations_never_crash_and_point_at_the_line(case: tuple[int, bytes]) -> None:
    line_no, raw = case
    root = Path(tempfile.mkdtemp())
    try:
        lines = [b.encode() for b in BASE]
        lines[line_no - 1] = raw
        (root / "d.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        ws = Workspace(root)
        try:
            result = registry.call(
                "validate_jsonl",
                {"paths": ["d.jsonl"], "max_findings": 200, "near_duplicates": line_no % 2 == 0},
                workspace=ws,
            )
        except ToolError as exc:
            assert exc.code in ("binary_file", "wrong_encoding"), exc.code  # NUL bytes or UTF-16-like head
            return
        for f in result.findings:
            if f.lines is None and f.line is not None:
                assert f.line == line_no, (f, line_no)
        for f in result.findings:
            if f.code in ("duplicate", "near_duplicate", "contradiction"):
                assert line_no in (f.lines or []), f
    finally:
        shutil.rmtree(root, ignore_errors=True)
