"""Blocks cut at line ends, and the same scan on one core and on several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.workspace import Workspace
from tools.pii.pool import plan

pytest.importorskip("presidio_analyzer")


def test_plan_cuts_at_line_ends_and_numbers_lines(tmp_path: Path) -> None:
    lines = [f'{{"i": {i}, "pad": "{"x" * (i % 7)}"}}' for i in range(1, 1001)]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines), "utf-8")  # no final newline
    data = path.read_bytes()
    for per_block, max_bytes in [(1, 1 << 30), (7, 1 << 30), (2000, 1 << 30), (1000, 100), (50, 333)]:
        blocks = plan(path, per_block, max_bytes)
        assert blocks[0][0] == 0 and blocks[-1][1] is None
        for (start, stop, first), nxt in zip(blocks, blocks[1:] + [None], strict=True):
            assert start == 0 or data[start - 1 : start] == b"\n"
            assert data[:start].count(b"\n") + 1 == first
            if nxt is not None:
                assert stop == nxt[0]


@pytest.mark.slow
def test_two_workers_give_the_same_result_as_one(ws: Workspace) -> None:
    rows = []
    for i in range(300):
        user = f"Order JO-{100000 + i} is late." if i % 3 else f"I am Priya Raman, mail priya{i}@example.org"
        rows.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": "Sorry!"}]})
    (ws.root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    from tools.pii import scan_pii as mod

    one = registry.call("scan_pii", {"path": "train.jsonl", "redact": "a.jsonl", "workers": 1}, workspace=ws)
    block = mod.BLOCK
    try:
        mod.BLOCK = 40  # several blocks per worker
        two = registry.call("scan_pii", {"path": "train.jsonl", "redact": "b.jsonl", "workers": 2}, workspace=ws)
    finally:
        mod.BLOCK = block
    assert two.workers == 2
    assert (ws.root / "a.jsonl").read_bytes() == (ws.root / "b.jsonl").read_bytes()
    keep = {"entities", "findings", "found_total", "lines_with_findings", "texts_scanned", "unique_texts"}
    assert one.model_dump(include=keep) == two.model_dump(include=keep)
    assert one.redaction.model_dump(exclude={"path"}) == two.redaction.model_dump(exclude={"path"})
