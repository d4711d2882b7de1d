"""tools.data.formats: detection, the normalised conversation, the reader API and conversion between formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.format_samples import SAMPLES, SYSTEM, chat, write_jsonl
from tools.data.formats import FORMATS, detect, facts, normalise, read_conversations, render

CHAT = ["openai_chat", "bedrock_nova", "bedrock_haiku", "vertex_gemini", "sharegpt"]


def test_every_format_has_a_sample_and_is_detected() -> None:
    assert set(SAMPLES) == set(FORMATS)
    for fmt, obj in SAMPLES.items():
        assert detect(obj) == fmt, fmt
    assert detect([1, 2]) is None and detect({"foo": 1}) is None


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_normalise_reads_roles_and_text(fmt: str) -> None:
    conv = normalise(SAMPLES[fmt], fmt)
    if fmt == "text":
        assert conv.text and not conv.messages
        return
    roles = [m.role for m in conv.messages]
    assert roles[-1] == "assistant" and "user" in roles
    assert set(roles) <= {"system", "user", "assistant", "tool"}
    if fmt in ("openai_chat", "bedrock_nova", "bedrock_haiku", "vertex_gemini", "sharegpt"):
        assert conv.system == SYSTEM


def test_tool_calls_survive_normalisation() -> None:
    conv = normalise(SAMPLES["openai_chat"], "openai_chat")
    call = conv.messages[2].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_abc", "get_weather", '{"city": "Paris"}')
    assert conv.messages[3].tool_call_id == "call_abc" and conv.parallel_tool_calls is False
    back, dropped = render(conv, "openai_chat")
    assert back == SAMPLES["openai_chat"] and dropped == []


@pytest.mark.parametrize("src", CHAT)
@pytest.mark.parametrize("dst", CHAT)
def test_conversion_between_chat_formats_is_lossless_for_plain_chat(src: str, dst: str) -> None:
    sample = chat(1) if src == "openai_chat" else SAMPLES[src]
    conv = normalise(sample, src)
    obj, dropped = render(conv, dst)
    assert dropped == []
    assert detect(obj) == dst
    again = normalise(obj, dst)
    assert [(m.role, m.content) for m in again.messages] == [(m.role, m.content) for m in conv.messages]


def test_conversion_lists_what_is_dropped() -> None:
    conv = normalise(SAMPLES["openai_chat"], "openai_chat")
    _, dropped = render(conv, "bedrock_nova")
    assert "tool calls and tool results" in dropped and "tool definitions" in dropped
    pref = normalise(SAMPLES["openai_preference"], "openai_preference")
    assert pref.rejected and pref.rejected[0].content == "What."
    _, dropped = render(pref, "openai_chat")
    assert dropped == ["rejected (non-preferred) answers"]
    obj, dropped = render(pref, "preference")
    assert dropped == [] and obj["rejected"][0]["content"] == "What."


def test_reader_api_yields_line_numbers(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "d.jsonl", [SAMPLES["bedrock_haiku"], "{oops", "", [1], SAMPLES["bedrock_haiku"]])
    recs = list(read_conversations(p))
    assert [r.line for r in recs] == [1, 2, 4, 5]
    assert recs[0].format == "bedrock_haiku" and recs[0].conversation.messages[0].role == "system"
    assert recs[1].conversation is None and "invalid JSON" in recs[1].error
    assert recs[2].conversation is None and "JSON object" in recs[2].error


def test_facts_rows_have_sources_and_models_match_by_prefix() -> None:
    f = facts()
    assert {t.id for t in f.targets} >= {
        "openai",
        "together",
        "mistral",
        "bedrock-nova",
        "bedrock-haiku",
        "vertex-gemini",
        "trl",
    }
    assert f.model("ft:gpt-4.1-nano-2025-04-14:org::x").max_tokens_per_example == 32768
    assert f.model("gpt-4.1-mini-2025-04-14").max_tokens_per_example == 65536
    assert f.model("llama-3") is None
    for t in f.targets:
        assert t.source.startswith("https://") and t.as_of
        for fmt in t.formats:
            assert fmt in FORMATS
