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


# ---------------------------------------------------------------- telling the truth (issue 18)

DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_dropped_csv_columns_are_listed_and_not_lossless(ws: Workspace) -> None:
    (ws.root / "qa.csv").write_text("question,answer,source,notes\nq1,a1,web,\nq2,a2,book,checked\nq3,a3,,\n")
    r = prepare(ws, path="qa.csv", out="qa.jsonl", validate_output=False)
    assert r.written == 3 and not r.lossless
    assert [(f.field, f.rows, f.first_row) for f in r.dropped_fields] == [("source", 2, 2), ("notes", 1, 3)]
    every = [
        {"field": "prompt", "column": "question"},
        {"field": "completion", "column": "answer"},
        {"field": "system", "column": "notes"},
    ]
    r = prepare(ws, path="qa.csv", out="qa2.jsonl", mapping=every, validate_output=False)
    assert [f.field for f in r.dropped_fields] == ["source"] and not r.lossless


def test_extra_keys_of_a_chat_file_are_listed(ws: Workspace) -> None:
    row = chat(1)
    row["id"] = "conv-1"
    row["metadata"] = {"source": "crm"}
    row["messages"][1]["timestamp"] = "2026-01-01"
    write_jsonl(ws.root / "c.jsonl", [row, chat(2)])
    r = prepare(ws, path="c.jsonl", out="o.jsonl", validate_output=False)
    assert {f.field: f.rows for f in r.dropped_fields} == {"id": 1, "metadata": 1, "messages[].timestamp": 1}
    assert not r.lossless and r.written == 2
    write_jsonl(ws.root / "clean.jsonl", [chat(1), chat(2)])
    assert prepare(ws, path="clean.jsonl", out="o2.jsonl", validate_output=False).lossless


def test_empty_prompts_and_answers_are_skipped_with_line_numbers(ws: Workspace) -> None:
    (ws.root / "qa.csv").write_text("question,answer\nq1,a1\n,a2\nq3,   \nq4,a4\n")
    r = prepare(ws, path="qa.csv", out="qa.jsonl", validate_output=False)
    assert r.written == 2 and r.skipped_total == 2 and not r.lossless
    assert [(s.row, s.reason.split(" (")[0]) for s in r.skipped] == [(3, "empty prompt"), (4, "empty answer")]
    assert [m["messages"][0]["content"] for m in _read(ws, "qa.jsonl")] == ["q1", "q4"]
    empty_chat = chat(5)
    empty_chat["messages"][2]["content"] = ""
    write_jsonl(ws.root / "c.jsonl", [chat(1), empty_chat, {"text": "  "}])
    r = prepare(ws, path="c.jsonl", out="c-out.jsonl", validate_output=False)
    assert [(s.row, s.reason) for s in r.skipped] == [(2, "empty answer (message 3)"), (3, "empty text")]


def test_real_dataset_with_null_prompts(ws: Workspace) -> None:
    name = "mokydoky_deepelonbot_finetune_data_first16000chars.jsonl"
    src = ws.root / name
    src.write_bytes((DATA / name).read_bytes())
    with pytest.raises(ToolError) as info:
        prepare(ws, path=name, out="x.jsonl")
    assert info.value.code == "bad_mapping" and "Prompt" in info.value.message and "line 1" in info.value.message
    m = [{"field": "prompt", "column": "Prompt"}, {"field": "completion", "column": "Completion"}]
    r = prepare(ws, path=name, out="elon.jsonl", to="prompt_completion", mapping=m, validate_output=False)
    assert [s.row for s in r.skipped] == [31, 56, 93, 102, 141, 151]
    assert {s.reason for s in r.skipped} == {"empty prompt (message 1)"}
    assert r.written == 156 and r.dropped_fields == [] and not r.lossless
    assert src.read_bytes() == (DATA / name).read_bytes()


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_csv_separator_is_sniffed(ws: Workspace, sep: str) -> None:
    body = f"question{sep}answer\n" + "".join(f'"Q {i}, really?"{sep}"A {i}; yes"\n' for i in range(4))
    (ws.root / "d.csv").write_text(body)
    r = prepare(ws, path="d.csv", out="d.jsonl", validate_output=False)
    assert r.written == 4 and r.lossless and r.delimiter and "sniffed" in r.delimiter
    assert _read(ws, "d.jsonl")[0]["messages"][1]["content"] == "A 0; yes"


def test_delimiter_override_and_bad_delimiter(ws: Workspace) -> None:
    (ws.root / "d.csv").write_text("question:answer\nq1:a1\nq2:a2\n")
    r = prepare(ws, path="d.csv", out="d.jsonl", delimiter=":", validate_output=False)
    assert r.written == 2 and r.delimiter == "':' (given)"
    with pytest.raises(ToolError) as info:
        prepare(ws, path="d.csv", out="e.jsonl", delimiter=";;")
    assert info.value.code == "bad_delimiter"
    (ws.root / "semi.csv").write_text("q;a\nx;y\n")
    with pytest.raises(ToolError) as info:
        prepare(ws, path="semi.csv", out="f.jsonl", delimiter=",", mapping=[{"field": "prompt", "column": "q"}])
    assert "';'-separated" in info.value.message and "--delimiter" in info.value.hint


def test_role_mapping(ws: Workspace) -> None:
    rows = [
        {"messages": [{"role": "customer", "content": f"q{i}"}, {"role": "agent", "content": f"a{i}"}]}
        for i in range(3)
    ]
    src = write_jsonl(ws.root / "crm.jsonl", rows)
    before = src.read_bytes()
    with pytest.raises(ToolError) as info:
        prepare(ws, path="crm.jsonl", out="o.jsonl")
    assert info.value.code == "unknown_role"
    assert "'customer' (3x, first on line 1)" in info.value.message and "--roles" in info.value.hint
    assert not (ws.root / "o.jsonl").exists()
    roles = [{"name": "customer", "role": "user"}, {"name": "agent", "role": "assistant"}]
    r = prepare(ws, path="crm.jsonl", out="o.jsonl", roles=roles, validate_output=False)
    assert r.written == 3 and r.lossless
    assert _read(ws, "o.jsonl")[2]["messages"] == [
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    assert src.read_bytes() == before
    sharegpt = {"conversations": [{"from": "client", "value": "hi"}, {"from": "bot", "value": "hello"}]}
    write_jsonl(ws.root / "s.jsonl", [sharegpt])
    r = prepare(
        ws, path="s.jsonl", out="s-out.jsonl", roles=[{"name": "client", "role": "user"}], validate_output=False
    )
    assert _read(ws, "s-out.jsonl")[0]["messages"][0] == {"role": "user", "content": "hi"}


def test_cli_says_lossless_only_when_it_is(in_ws: Workspace) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    runner = CliRunner()
    (in_ws.root / "qa.csv").write_text("question;answer;source\nq1;a1;x\n;a2;y\nq3;a3;z\n")
    res = runner.invoke(app, ["prepare", "qa.csv", "-o", "qa.jsonl", "--no-validate"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "lossless" not in out
    assert "Skipped 1 line warning line 3 empty prompt" in out and "│ source │ 2 │ 2 │" in out
    assert "semicolon (sniffed)" in out
    res = runner.invoke(app, ["prepare", "qa.csv", "-o", "qa2.jsonl", "--no-validate", "--map", "prompt=question"])
    assert res.exit_code == 1 and "0 of 3 lines" in res.output and "no answer" in res.output
    (in_ws.root / "all.csv").write_text("question,answer\nq1,a1\n")
    res = runner.invoke(app, ["prepare", "all.csv", "-o", "all.jsonl", "--no-validate", "--json"])
    assert json.loads(res.stdout)["lossless"] is True
    res = runner.invoke(app, ["prepare", "all.csv", "-o", "all2.jsonl", "--roles", "nonsense"])
    assert res.exit_code == 2
