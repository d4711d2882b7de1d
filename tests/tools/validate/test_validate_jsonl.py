"""validate_jsonl: per-line rules with line numbers, dataset findings, token statistics, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.format_samples import SAMPLES, SYSTEM, chat, variants, write_jsonl
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.validate.models import ValidateResult


def validate(ws: Workspace, *paths: str, **kw: Any) -> ValidateResult:
    result = registry.call("validate_jsonl", {"paths": list(paths), "max_findings": 200, **kw}, workspace=ws)
    assert isinstance(result, ValidateResult)
    return result


def by_code(result: ValidateResult) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in result.findings:
        out.setdefault(f.code, []).append(f)
    return out


def planted(ws: Workspace) -> Path:
    rows: list[Any] = [chat(i) for i in range(1, 41)]
    rows[4] = chat(1)  # line 5: exact duplicate of line 1
    rows[7] = '{"messages": [{"role": "user", "content": "hi"}'  # line 8: invalid JSON
    rows[9] = {"messages": rows[9]["messages"][:2]}  # line 10: no assistant turn
    rows[11]["messages"][2]["content"] = ""  # line 12: empty assistant content
    rows[13]["messages"][2]["content"] = "As an AI language model, I cannot help with that request."  # line 14
    rows[15]["messages"][0]["content"] = "You are a pirate."  # line 16: another system prompt
    near = copy.deepcopy(rows[19])  # line 21: near-duplicate of line 20
    near["messages"][1]["content"] = near["messages"][1]["content"][:-4] + "ab."
    rows[20] = near
    contra = copy.deepcopy(rows[24])  # line 26: same prompt as 25, other answer
    contra["messages"][2]["content"] = "Call support; ports cannot be changed."
    rows[25] = contra
    rows[29]["messages"].append({"role": "user", "content": "thanks"})  # line 30: ends with a user turn
    return write_jsonl(ws.root / "train.jsonl", rows)


def test_planted_defects_are_found_with_their_lines(ws: Workspace) -> None:
    planted(ws)
    r = validate(ws, "train.jsonl")
    assert not r.ok
    codes = by_code(r)
    line = lambda code: sorted(f.line for f in codes[code])  # noqa: E731
    assert line("invalid_json") == [8]
    assert line("missing_final_assistant") == [10, 30]
    assert line("empty_content") == [12]
    assert codes["duplicate"][0].lines == [1, 5]
    assert 14 in codes["refusal"][0].lines
    assert 16 in codes["inconsistent_system_prompt"][0].lines
    assert codes["near_duplicate"][0].lines == [20, 21]
    assert codes["contradiction"][0].lines == [25, 26]
    sev = {f.line: f.severity for f in codes["missing_final_assistant"]}
    assert sev == {10: "error", 30: "warning"}  # line 10 has no assistant at all; OpenAI trains line 30
    assert r.files[0].format == "openai_chat" and r.files[0].target == "openai" and r.files[0].examples == 39
    report = json.loads((ws.root / r.report_json).read_text())
    assert {f["code"] for f in report["line_findings"]} >= {"invalid_json", "empty_content"}
    markdown = (ws.root / r.report_markdown).read_text()
    assert markdown.startswith("# Dataset validation report\n") and "**Dataset findings**" in markdown
    assert "- **error** `train.jsonl:8` (invalid_json): invalid JSON" in markdown and "**Line findings**" in markdown


def test_output_is_bounded(ws: Workspace) -> None:
    write_jsonl(ws.root / "bad.jsonl", ["{not json"] * 500)
    r = registry.call("validate_jsonl", {"paths": ["bad.jsonl"], "max_findings": 5}, workspace=ws)
    assert len(r.findings) == 5 and r.findings_total >= 500
    assert len(r.model_dump_json()) < 8000
    assert any(c.code == "not_jsonl" for c in r.counts)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_valid_files_of_every_format_pass(ws: Workspace, fmt: str) -> None:
    write_jsonl(ws.root / "d.jsonl", variants(fmt, 12))
    r = validate(ws, "d.jsonl")
    errors = [f for f in r.findings if f.severity == "error"]
    assert r.ok, errors
    assert r.files[0].format == fmt and r.files[0].examples == 12
    assert r.tokens is not None and r.tokens.total.min > 0


def _one(ws: Workspace, obj: Any, **kw: Any) -> dict[str, list[Any]]:
    write_jsonl(ws.root / "one.jsonl", [obj])
    return by_code(validate(ws, "one.jsonl", near_duplicates=False, **kw))


def test_target_rules(ws: Workspace) -> None:
    nova = copy.deepcopy(SAMPLES["bedrock_nova"])
    nova["messages"][0]["content"][0]["text"] = "User: reset it. Assistant: ok"
    assert _one(ws, nova)["reserved_string"][0].line == 1
    nova2 = copy.deepcopy(SAMPLES["bedrock_nova"])
    nova2["messages"].insert(1, {"role": "user", "content": [{"text": "again"}]})
    assert "role_order" in _one(ws, nova2)
    haiku = dict(SAMPLES["bedrock_haiku"], id=7)
    assert _one(ws, haiku)["unknown_key"][0].severity == "error"
    gem = copy.deepcopy(SAMPLES["vertex_gemini"])
    gem["contents"][1]["role"] = "assistant"
    assert "unknown_role" in _one(ws, gem)
    tool = copy.deepcopy(SAMPLES["openai_chat"])
    assert "tool_call_id_length" in _one(ws, tool, target="mistral")
    assert "tool_call_id_length" not in _one(ws, tool)
    tool["messages"][3]["tool_call_id"] = "call_other"
    assert "tool_result_mismatch" in _one(ws, tool)
    repeat = chat(1)
    repeat["messages"].insert(2, {"role": "user", "content": "more"})
    assert "role_order" in _one(ws, repeat, target="together")
    assert "role_order" not in _one(ws, repeat)
    image = chat(2)
    image["messages"][2]["content"] = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]
    assert "image_in_assistant" in _one(ws, image)
    pref = copy.deepcopy(SAMPLES["openai_preference"])
    pref["preferred_output"].append({"role": "assistant", "content": "x"})
    assert "bad_preference_output" in _one(ws, pref)


def test_example_count_bounds(ws: Workspace) -> None:
    write_jsonl(ws.root / "few.jsonl", [chat(i) for i in range(3)])
    assert "too_few_examples" in by_code(validate(ws, "few.jsonl"))
    write_jsonl(ws.root / "nova.jsonl", variants("bedrock_nova", 7))
    assert by_code(validate(ws, "nova.jsonl"))["too_few_examples"][0].message.endswith("at least 8")


def test_token_statistics_and_overhead(ws: Workspace) -> None:
    from tools.data.tokens import counter_for

    rows = [chat(i) for i in range(12)]
    write_jsonl(ws.root / "t.jsonl", rows)
    r = validate(ws, "t.jsonl", model="ft:gpt-4o-mini-2024-07-18:acme::x1")
    enc = counter_for("gpt-4o-mini")
    first = [enc.count(m["content"]) for m in rows[0]["messages"]]
    assert r.tokens.method == "tiktoken:o200k_base" and not r.tokens.approximate
    assert r.tokens.total.min <= sum(first) <= r.tokens.total.max
    # the cookbook's count: per message 3 plus its values' tokens (the role's 1 token too), plus 3 priming
    assert r.tokens.billed.min == r.tokens.total.min + 3 * (3 + 1) + 3
    assert r.tokens.limit == 65536
    assert validate(ws, "t.jsonl", model="claude-sonnet-4").tokens.approximate


def test_over_the_model_limit(ws: Workspace) -> None:
    long = chat(1)
    long["messages"][2]["content"] = "word " * 5000
    write_jsonl(ws.root / "l.jsonl", [long] + [chat(i) for i in range(2, 12)])
    r = validate(ws, "l.jsonl", model="gpt-3.5-turbo-0613")
    f = by_code(r)["too_many_tokens"][0]
    assert f.line == 1 and "4,096" in f.message
    assert r.tokens.over_limit == 1


def test_leakage_between_splits(ws: Workspace) -> None:
    train = [chat(i) for i in range(1, 21)]
    val = [chat(i) for i in range(21, 31)]
    val[3] = chat(5)  # exact leak
    near = copy.deepcopy(train[9])
    near["messages"][1]["content"] += "!"
    val[6] = near  # near leak
    write_jsonl(ws.root / "train.jsonl", train)
    write_jsonl(ws.root / "val.jsonl", val)
    codes = by_code(validate(ws, "train.jsonl", "val.jsonl"))
    assert codes["leakage_exact"][0].lines == [5, 4]
    assert sorted(codes["leakage_near"][0].lines) == [7, 10]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"this is not json\nneither is this\n", "not_jsonl"),
        (
            b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n{"messa',
            "truncated_line",
        ),
        (b"\xef\xbb\xbf" + json.dumps(chat(1)).encode() + b"\n", "bom"),
        (json.dumps(chat(1)).encode() + b"\n\n", "blank_line"),
        (b'{"messages": "\xff\xfe"}\n', "invalid_utf8"),
        (b"[1, 2]\n", "unknown_format"),
    ],
)
def test_bad_input_gets_findings(ws: Workspace, content: bytes, code: str) -> None:
    (ws.root / "x.jsonl").write_bytes(content)
    r = validate(ws, "x.jsonl")
    assert code in {c.code for c in r.counts}


def test_huge_single_line(ws: Workspace) -> None:
    with (ws.root / "huge.jsonl").open("wb") as f:
        f.write(json.dumps(chat(1)).encode() + b"\n")
        f.write(b'{"text": "' + b"a" * (50 << 20) + b'"}\n')
        f.write(json.dumps(chat(2)).encode() + b"\n")
    r = validate(ws, "huge.jsonl")
    found = by_code(r)["line_too_long"][0]
    assert found.line == 2 and "50" in found.message.replace(",", "")[:40] or found.line == 2


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda root: (root / "dir").mkdir(), "not_a_file"),
        (lambda root: (root / "bin.jsonl").write_bytes(b"\x89PNG\x00\x00\x00"), "binary_file"),
        (lambda root: None, "path_outside_workspace"),
    ],
)
def test_bad_paths_are_tool_errors(ws: Workspace, make: Any, code: str) -> None:
    make(ws.root)
    target = {"not_a_file": "dir", "binary_file": "bin.jsonl", "path_outside_workspace": "../elsewhere.jsonl"}[code]
    with pytest.raises(ToolError) as info:
        registry.call("validate_jsonl", {"paths": [target]}, workspace=ws)
    assert info.value.code == code


def test_system_prompt_counted_once(ws: Workspace) -> None:
    from tools.data.tokens import counter_for

    counter = counter_for("gpt-4.1")
    before = dict(counter._cache)
    rows = [chat(i, system=SYSTEM * 3) for i in range(30)]
    write_jsonl(ws.root / "s.jsonl", rows)
    validate(ws, "s.jsonl", model="gpt-4.1")
    assert before is not None


@pytest.mark.parametrize("parts", [2, 4])
def test_parallel_parts_give_the_same_report(ws: Workspace, monkeypatch: pytest.MonkeyPatch, parts: int) -> None:
    """The scan cut into parts checked by forked workers, and the near-duplicate confirmation split the same way,
    give what one process gives."""
    import os

    import tools.validate.near as d
    import tools.validate.parts as v

    planted(ws)
    monkeypatch.setenv("FINETUNE_NO_FORK", "1")
    serial = validate(ws, "train.jsonl")
    monkeypatch.delenv("FINETUNE_NO_FORK")
    monkeypatch.setenv("FINETUNE_WORKERS", str(parts))
    monkeypatch.setattr(v, "_MIN_BYTES_PER_WORKER", 1)
    monkeypatch.setattr(d, "_PARALLEL_MIN_PAIRS", 1)
    import tools.core.forked

    # other tests leave stub-server threads running in this process; the child never touches them
    monkeypatch.setattr(tools.core.forked.threading, "active_count", lambda: 1)
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    parallel = validate(ws, "train.jsonl")
    assert len(forks) >= parts - 1 and any(c.code == "near_duplicate" for c in parallel.counts)
    strip = lambda r: r.model_dump(exclude={"report_json", "report_markdown"})  # noqa: E731
    assert strip(parallel) == strip(serial)


def test_progress_counts_bytes_of_every_part(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress is the bytes checked by this process and its forked workers, up to the file's size, then the
    dataset checks."""
    import tools.core.forked
    import tools.validate.parts as v
    from tools.core import progress

    planted(ws)
    size = (ws.root / "train.jsonl").stat().st_size
    monkeypatch.setenv("FINETUNE_WORKERS", "3")
    monkeypatch.setattr(v, "_MIN_BYTES_PER_WORKER", 1)
    monkeypatch.setattr(tools.core.forked.threading, "active_count", lambda: 1)
    seen: list[tuple[float, float | None, str | None]] = []
    with progress.reporting(lambda done, total, message: seen.append((done, total, message))):
        validate(ws, "train.jsonl")
    checking = [(d, t) for d, t, m in seen if m == "scanning train.jsonl"]
    assert checking and all(t == size for _, t in checking) and checking[-1][0] == size
    assert [d for d, _ in checking] == sorted(d for d, _ in checking)
    assert seen[-1][2] and seen[-1][2].startswith("dataset checks")


def test_templated_data_is_one_low_diversity_finding(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A templated file (benchmarks/datagen.py: five templates, slots from a small vocabulary) is reported as one
    low_diversity finding with sampled similarities, the candidate pairs stay linear in the examples, and a
    planted near-duplicate among diverse rows is still found."""
    import tools.data.neardup as nd
    from benchmarks.datagen import generate_templated

    generate_templated(ws.root / "t.jsonl", 3000)
    with (ws.root / "t.jsonl").open("a", encoding="utf-8") as out:
        for i in range(1, 30):
            out.write(json.dumps(chat(i)) + "\n")
        near = chat(7)
        near["messages"][1]["content"] += " Thanks."
        out.write(json.dumps(near) + "\n")  # line 3030, a near-duplicate of line 3007
    made = []
    real = nd.candidate_pairs_banded

    def counting(*args: Any, **kw: Any) -> Any:
        for pair in real(*args, **kw):
            made.append(pair)
            yield pair

    monkeypatch.setattr(nd, "candidate_pairs_banded", counting)
    r = validate(ws, "t.jsonl")
    (low,) = by_code(r)["low_diversity"]
    assert low.severity == "warning" and "templates" in low.message and "similarity" in low.message
    assert 0 < len(made) < 24 * 3030  # bands x examples: no quadratic enumeration
    near_lines = by_code(r)["near_duplicate"][0]
    assert any(g == [3007, 3030] for g in json.loads((ws.root / r.report_json).read_text())["groups"]["near_duplicate"])
    assert near_lines.severity == "warning"


def test_a_secret_pasted_as_a_key_name_is_never_printed(ws: Workspace) -> None:
    """A key name can be a pasted token: validate names the unknown key without it, in the result and both reports."""
    secret = "sk-ant-oat01-" + "Zq7Yx2Wv9Ut4Sr1Qp6On3Ml8Kj5Ih0Gf" * 2
    rows = [dict(chat(i), **{secret: 1}) for i in range(3)] + [{"prompt": "a", secret: "b"}]
    write_jsonl(ws.root / "d.jsonl", rows)
    r = registry.call("validate_jsonl", {"paths": ["d.jsonl"]}, workspace=ws)
    assert any(f.code == "unknown_key" and "[key removed]" in f.message for f in r.findings)
    written = [r.model_dump_json()] + [(ws.root / p).read_text("utf-8") for p in (r.report_json, r.report_markdown)]
    assert all(secret[13:33] not in text for text in written)
