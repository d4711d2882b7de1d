"""The scrubber: no key value or key-shaped string survives in an error, a crash report or a transcript."""

from __future__ import annotations

import pytest

from tools.core.errors import ToolError
from tools.core.scrub import scrub

SHAPES = [
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "sk-ant-oat01-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx",
    "sk_live_AbCdEfGhIjKlMnOpQrSt",
    "hf_AbCdEfGhIjKlMnOpQrStUvWx",
    "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "xoxb-1234567890-abcdefghij",
    "AKIAABCDEFGHIJKLMNOP",
    "AIzaSyAbCdEfGhIjKlMnOpQrStUvWxYz0123456",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlMTIz",
]


@pytest.mark.parametrize("key", SHAPES)
def test_key_shaped_strings_are_removed(key: str) -> None:
    text = f'Invalid key provided: "{key}" (see docs)'
    assert key not in scrub(text) and "[key removed]" in scrub(text)


def test_a_bearer_token_of_any_shape_is_removed() -> None:
    assert "abcdefghijklmnop1234" not in scrub("Authorization: Bearer abcdefghijklmnop1234")


def test_known_key_values_are_removed_wherever_they_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "plainvalue-without-any-prefix-42")
    monkeypatch.setenv("DEBUG_TOKEN", "1")  # too short to be a key: left alone
    out = scrub("server said: key plainvalue-without-any-prefix-42 is unknown; retry 1 time")
    assert "plainvalue-without-any-prefix-42" not in out and "[TOGETHER_API_KEY removed]" in out
    assert "retry 1 time" in out


def test_tool_errors_scrub_message_and_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-canaryCANARYcanary1234")
    err = ToolError(
        "provider_error",
        "OpenAI said: Incorrect API key sk-proj-canaryCANARYcanary1234",
        "check Bearer sk-proj-canaryCANARYcanary1234",
    )
    assert "canaryCANARY" not in err.message + (err.hint or "") + str(err) + err.info().model_dump_json()


def test_ordinary_text_is_untouched() -> None:
    text = "line 12: the answer mentions skills-ref and a task id task-1234; see data/train.jsonl"
    assert scrub(text) == text
