"""prepare_data: tabular and JSON inputs, mappings, conversion between formats, validation on the way out."""

from __future__ import annotations

import json

import pytest

from tests.support.format_samples import SAMPLES, chat, write_jsonl
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


def prepare(ws: Workspace, **kw):
    return registry.call("prepare_data", kw, workspace=ws)


def _read(ws: Workspace, name: str) -> list[dict]:
    return [json.loads(x) for x in (ws.root / name).read_text().splitlines()]


def test_csv_with_mapping_and_system(ws: Workspace) -> None:
    rows = "".join(f'"Question {i}, with comma?","Answer {i}\nsecond line"\n' for i in range(12))
    (ws.root / "qa.csv").write_text("question,answer\n" + rows)
    r = prepare(
        ws,
        path="qa.csv",
        out="qa.jsonl",
        system="Be brief.",
        mapping=[{"field": "prompt", "column": "question"}, {"field": "completion", "column": "answer"}],
    )
    assert r.written == 12 and r.lossless and r.validation_ok
    first = _read(ws, "qa.jsonl")[0]["messages"]
    assert first == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Question 0, with comma?"},
        {"role": "assistant", "content": "Answer 0\nsecond line"},
    ]


def test_tsv_json_and_guessed_columns(ws: Workspace) -> None:
    (ws.root / "d.tsv").write_text("prompt\tcompletion\n" + "".join(f"p{i}\tc{i}\n" for i in range(3)))
    assert prepare(ws, path="d.tsv", out="a.jsonl", to="prompt_completion").written == 3
    assert _read(ws, "a.jsonl")[0] == {"prompt": "p0", "completion": "c0"}
    (ws.root / "arr.json").write_text(json.dumps([{"question": "q", "answer": "a"}]))
    prepare(ws, path="arr.json", out="b.jsonl", validate_output=False)
    assert _read(ws, "b.jsonl")[0]["messages"][1]["content"] == "a"
    (ws.root / "cols.json").write_text(json.dumps({"instruction": ["i1", "i2"], "response": ["r1", "r2"]}))
    prepare(ws, path="cols.json", out="c.jsonl", to="alpaca", validate_output=False)
    assert _read(ws, "c.jsonl")[1] == {"instruction": "i2", "input": "", "output": "r2"}


def test_parquet(ws: Workspace) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"q": ["a", "b"], "a": ["x", "y"]}), ws.root / "d.parquet")
    r = prepare(
        ws,
        path="d.parquet",
        out="d.jsonl",
        mapping=[{"field": "prompt", "column": "q"}, {"field": "completion", "column": "a"}],
        validate_output=False,
    )
    assert r.written == 2 and _read(ws, "d.jsonl")[1]["messages"][0]["content"] == "b"


@pytest.mark.parametrize("to", ["bedrock_nova", "bedrock_haiku", "vertex_gemini", "sharegpt", "openai_chat"])
def test_chat_conversion_validates_and_reports_drops(ws: Workspace, to: str) -> None:
    rows = [chat(i) for i in range(12)] + [SAMPLES["openai_chat"]]
    src = write_jsonl(ws.root / "chat.jsonl", rows)
    before = src.read_bytes()
    r = prepare(ws, path="chat.jsonl", out=f"{to}.jsonl", to=to)
    assert r.written == 13 and src.read_bytes() == before
    if to == "openai_chat":
        assert r.lossless
    else:
        assert {d.what for d in r.dropped} >= {"tool calls and tool results", "tool definitions"}
        assert next(d for d in r.dropped if d.what == "tool definitions").first_row == 13
    assert r.validation_ok, r
    back = prepare(ws, path=f"{to}.jsonl", out=f"back-{to}.jsonl", to="openai_chat")
    assert _read(ws, f"back-{to}.jsonl")[:12] == _read(ws, "chat.jsonl")[:12]
    assert back.lossless


def test_bad_inputs(ws: Workspace) -> None:
    (ws.root / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ToolError) as info:
        prepare(ws, path="x.csv", out="x.jsonl")
    assert info.value.code == "bad_mapping" and "x.csv" in info.value.message
    with pytest.raises(ToolError) as info:
        prepare(ws, path="x.csv", out="x.csv")
    assert info.value.code == "output_is_input"
    (ws.root / "bad.json").write_text("{")
    with pytest.raises(ToolError) as info:
        prepare(ws, path="bad.json", out="y.jsonl")
    assert info.value.code == "invalid_json"
    (ws.root / "m.yaml").write_text("prompt: a\ncompletion: b\n")
    r = prepare(ws, path="x.csv", out="z.jsonl", mapping_file="m.yaml", validate_output=False)
    assert _read(ws, "z.jsonl")[0]["messages"] == [
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": "2"},
    ]
    write_jsonl(ws.root / "mixed.jsonl", [chat(1), "{broken", chat(2)])
    r = prepare(ws, path="mixed.jsonl", out="mixed-out.jsonl", validate_output=False)
    assert r.written == 2 and r.skipped[0].row == 2
