"""tools.data.jsonl: line numbers and problems on every kind of broken line, memory-bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.core.errors import ToolError
from tools.data.jsonl import parse, read_lines, sniff


def _lines(path: Path, **kw):
    return list(read_lines(path, **kw))


def test_numbers_offsets_and_problems(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\n{"b": \xff}\n   \n{"c": 3}')
    got = _lines(p)
    assert [x.number for x in got] == [1, 2, 3, 4, 5]
    assert got[0].problem == "bom" and parse(got[0])[0] == {"a": 1}
    assert got[1].blank
    assert got[2].problem == "invalid_utf8" and got[2].text is None
    assert got[3].blank
    assert got[4].problem == "no_final_newline" and parse(got[4])[0] == {"c": 3}
    raw = p.read_bytes()
    for line in got:  # offsets point at the start of each line
        assert raw[line.offset :].lstrip(b"\xef\xbb\xbf").startswith(b"{") or line.number in (2, 4)


def test_truncated_last_line_is_invalid_json(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"a": 1}\n{"messages": [{"role": "us')
    last = _lines(p)[-1]
    assert last.problem == "no_final_newline"
    value, err = parse(last)
    assert value is None and err and err.startswith("invalid JSON")


def test_huge_line_is_skipped_not_loaded(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    with p.open("wb") as f:
        f.write(b'{"a": 1}\n')
        f.write(b'{"text": "' + b"x" * (3 << 20) + b'"}\n')
        f.write(b'{"a": 2}\n')
    got = _lines(p, max_bytes=1 << 20)
    assert [x.number for x in got] == [1, 2, 3]
    assert got[1].problem == "line_too_long" and got[1].text is None
    assert parse(got[2])[0] == {"a": 2}


def test_sniff_refuses_binary_utf16_and_json_arrays(tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(b"\x00\x01\x02")
    (tmp_path / "u").write_bytes('{"a": 1}\n'.encode("utf-16"))
    (tmp_path / "arr").write_text('[\n  {"a": 1},\n  {"a": 2}\n]\n')
    (tmp_path / "pq").write_bytes(b"PAR1\x00\x00")
    for name, code in (("b", "binary_file"), ("u", "wrong_encoding"), ("arr", "not_jsonl"), ("pq", "not_jsonl")):
        with pytest.raises(ToolError) as info:
            sniff(tmp_path / name, name)
        assert info.value.code == code and name in info.value.message
    (tmp_path / "ok").write_text("[1, 2]\n[3]\n")
    sniff(tmp_path / "ok", "ok")  # a JSONL file whose lines are arrays is JSONL (the validator flags them)
