"""split_dataset: deterministic, near-duplicates kept together, stratified, manifest with hashes."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from tests.support.format_samples import chat, write_jsonl
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


def dataset(ws: Workspace, n: int = 100) -> Path:
    rows = [dict(chat(i), meta={"task": "a" if i % 4 else "b"}) for i in range(n)]
    for k in range(5):  # five near-duplicate pairs and one exact duplicate
        near = copy.deepcopy(rows[k * 10])
        near["messages"][2]["content"] += " ok"
        rows.append(near)
    rows.append(copy.deepcopy(rows[3]))
    return write_jsonl(ws.root / "data.jsonl", rows)


def split(ws: Workspace, **kw):
    return registry.call("split_dataset", {"path": "data.jsonl", **kw}, workspace=ws)


def _contents(ws: Workspace, part) -> list[str]:
    return (ws.root / part.path).read_text().splitlines()


def test_split_is_deterministic_and_keeps_groups(ws: Workspace) -> None:
    src = dataset(ws)
    before = src.read_bytes()
    r = split(ws)
    assert [p.split for p in r.parts] == ["train", "val", "test"]
    assert sum(p.examples for p in r.parts) == r.examples == 106
    assert [p.examples for p in r.parts] == pytest.approx([85, 11, 10], abs=3)
    assert r.grouped_examples == 12
    where = {}
    for p in r.parts:
        for line in _contents(ws, p):
            where.setdefault(json.loads(line)["messages"][1]["content"], set()).add(p.split)
    assert all(len(s) == 1 for s in where.values())  # no prompt in two splits
    manifest = json.loads((ws.root / r.manifest).read_text())
    for p in manifest["parts"]:
        assert hashlib.sha256((ws.root / p["path"]).read_bytes()).hexdigest() == p["sha256"]
    assert manifest["source_sha256"] == hashlib.sha256(before).hexdigest()
    again = split(ws)
    assert [p.sha256 for p in again.parts] == [p.sha256 for p in r.parts]
    other = split(ws, seed=7)
    assert [p.sha256 for p in other.parts] != [p.sha256 for p in r.parts]
    assert src.read_bytes() == before


def test_stratified_and_two_way(ws: Workspace) -> None:
    dataset(ws)
    r = split(ws, ratios=[0.5, 0.5], stratify="meta.task", train_out="tr.jsonl", val_out="va.jsonl")
    assert [p.path for p in r.parts] == ["tr.jsonl", "va.jsonl"]
    for p in r.parts:
        tasks = [json.loads(x)["meta"]["task"] for x in _contents(ws, p)]
        assert 0.15 < tasks.count("b") / len(tasks) < 0.35
        assert p.strata == ["a", "b"]


def test_bad_requests(ws: Workspace) -> None:
    dataset(ws)
    with pytest.raises(ToolError) as info:
        split(ws, ratios=[1.0])
    assert info.value.code in ("bad_ratios", "invalid_arguments")
    with pytest.raises(ToolError) as info:
        split(ws, train_out="data.jsonl")
    assert info.value.code == "output_is_input"
    (ws.root / "empty.jsonl").write_text("")
    with pytest.raises(ToolError):
        registry.call("split_dataset", {"path": "empty.jsonl"}, workspace=ws)
