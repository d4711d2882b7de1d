"""The LLM backends with the real anthropic and openai SDKs against a local wire-format stub.

No test reaches the network: every client points at tests/llm_stub.py on 127.0.0.1 (or at a port
nothing listens on), retries sleep through an injected recorder, and API keys are fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.support.llm_stub import (
    SIGNATURE,
    TOOLS,
    LLMStub,
    anthropic_error,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    fast_retry,
    free_port,
    openai_completion,
    openai_error,
    openai_sse,
    openai_tool_call,
    openai_usage,
    text_block,
    thinking_block,
    tool_use_block,
)
from tools.core.errors import ToolError
from tools.knowledge.core import Fact
from tools.llm import (
    AssistantMessage,
    History,
    RetryPolicy,
    SystemPrompt,
    ToolCall,
    ToolResultMessage,
    Turn,
    Usage,
    UsageLedger,
    UserMessage,
)
from tools.llm.anthropic_backend import AnthropicBackend, to_anthropic_messages
from tools.llm.openai_backend import OpenAIBackend, to_openai_messages
from tools.llm.pricing import AgentModelsFile, agent_models, default_model, find_model, model_notice, undated
from tools.llm.select import select_backend

ANTHROPIC_KEY = "sk-ant-api03-test-canary-0123456789"
OPENAI_KEY = "sk-proj-test-canary-9876543210"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint, header or proxy setting from the outer environment reaches the clients."""
    for name in (
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMStub]:
    """The local stub. For Anthropic it stands for the person's own configured endpoint (ANTHROPIC_BASE_URL),
    the only way the Anthropic key may travel to it; for OpenAI it is a local OpenAI-compatible server."""
    with LLMStub() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


@pytest.fixture
def anthropic_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    return ANTHROPIC_KEY


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return OPENAI_KEY


def claude(stub: LLMStub, retry: RetryPolicy | None = None, priced: bool | None = None) -> AnthropicBackend:
    return AnthropicBackend("claude-sonnet-5-5", base_url=stub.url, retry=retry or fast_retry()[0], priced=priced)


def local_openai(
    stub: LLMStub, model: str = "qwen2.5-7b-instruct", retry: RetryPolicy | None = None, priced: bool | None = None
) -> OpenAIBackend:
    return OpenAIBackend(model, base_url=stub.url + "/v1", retry=retry or fast_retry()[0], priced=priced)


# ------------------------------------------------------------------------------------------------
# Anthropic


def test_anthropic_tool_use_then_tool_result_cycle(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(
        anthropic_message(
            [
                thinking_block("The person wants a row count."),
                text_block("Let me count the rows."),
                tool_use_block(
                    "toolu_01A09q90qw90lq917835lq9", "count_rows", {"path": "data/train.jsonl", "limit": None}
                ),
            ],
            "tool_use",
        )
    )
    stub.reply(anthropic_message([text_block("train.jsonl has 3 rows.")], "end_turn"))
    backend = claude(stub)
    history: list = [UserMessage(text="How many rows are in data/train.jsonl?")]

    turn = backend.complete(history, TOOLS, system="You help people fine-tune.")
    assert turn.stop_reason == "tool_use"
    assert turn.text == "Let me count the rows."
    assert turn.tool_calls == [
        ToolCall(
            id="toolu_01A09q90qw90lq917835lq9", name="count_rows", arguments={"path": "data/train.jsonl", "limit": None}
        )
    ]
    history += [
        turn.as_message(),
        ToolResultMessage(tool_call_id="toolu_01A09q90qw90lq917835lq9", name="count_rows", content='{"rows": 3}'),
    ]
    final = backend.complete(history, TOOLS, system="You help people fine-tune.")
    assert final.stop_reason == "end_turn" and final.text == "train.jsonl has 3 rows." and not final.tool_calls

    assert [r.path for r in stub.requests] == ["/v1/messages", "/v1/messages"]
    first, second = stub.requests
    # The key travels in a header (anthropic 2.x sends it as a bearer token, older SDKs as x-api-key).
    sent = (first.headers.get("x-api-key"), first.headers.get("authorization", "").removeprefix("Bearer "))
    assert anthropic_key in sent
    assert "anthropic-version" in first.headers
    body = second.body
    assert body["model"] == "claude-sonnet-5-5" and body["max_tokens"] == 4096
    # Prompt caching: the system block and the last tool definition carry cache_control, the others do not.
    assert body["system"] == [
        {"type": "text", "text": "You help people fine-tune.", "cache_control": {"type": "ephemeral"}}
    ]
    assert [t["name"] for t in body["tools"]] == ["count_rows", "quote_job"]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in t for t in body["tools"][:-1])
    assert all(isinstance(t["strict"], bool) for t in body["tools"])
    assert body["tools"][0]["input_schema"]["additionalProperties"] is False
    # The assistant turn is replayed verbatim, thinking signature included, in its original order.
    assistant = body["messages"][1]
    assert assistant["role"] == "assistant"
    assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use"]
    assert assistant["content"][0]["signature"] == SIGNATURE
    # The tool result comes first in the next user turn, and the conversation prefix is cached there.
    user = body["messages"][2]
    assert user["role"] == "user"
    assert user["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
        "content": '{"rows": 3}',
        "cache_control": {"type": "ephemeral"},
    }
    # Only the newest user turn carries the moving cache breakpoint (4 breakpoints at most per request).
    assert "cache_control" not in json.dumps(body["messages"][:2])
    # The key lives in the client only: not in turns, the history, the label or the usage summary.
    ledger = backend.new_ledger()
    ledger.add(final)
    kept = History(messages=history).model_dump_json() + final.model_dump_json() + backend.label
    assert anthropic_key not in kept + ledger.summary().model_dump_json()


def test_anthropic_tool_error_goes_back_with_is_error_first_in_content(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(anthropic_message([text_block("I could not read that file.")]))
    history = [
        UserMessage(text="Count rows in both files and quote a job."),
        AssistantMessage(
            text="",
            tool_calls=[
                ToolCall(id="toolu_1", name="count_rows", arguments={"path": "a"}),
                ToolCall(id="toolu_2", name="quote_job", arguments={"provider": "x"}),
            ],
        ),
        ToolResultMessage(
            tool_call_id="toolu_1", content='{"code": "file_missing", "message": "a: not found"}', is_error=True
        ),
        ToolResultMessage(tool_call_id="toolu_2", content="declined: the person said no", is_error=True),
        UserMessage(text="Never mind the quote."),
    ]
    claude(stub).complete(history, TOOLS)
    body = stub.requests[0].body
    assert "system" not in body
    assistant, user = body["messages"][1], body["messages"][2]
    assert [b["type"] for b in assistant["content"]] == ["tool_use", "tool_use"]
    assert [b["type"] for b in user["content"]] == ["tool_result", "tool_result", "text"]
    assert user["content"][0]["is_error"] is True and user["content"][0]["tool_use_id"] == "toolu_1"
    assert user["content"][1]["is_error"] is True
    assert user["content"][2]["text"] == "Never mind the quote."
    assert len(body["messages"]) == 3


def test_system_prompt_with_a_volatile_part(stub: LLMStub, anthropic_key: str) -> None:
    """The changing part (answers so far) goes after the cache breakpoint; the stable part stays cached."""
    stub.reply(anthropic_message([text_block("ok")])).reply(openai_completion("ok"))
    prompt = SystemPrompt(stable="Rules and the reference index.", volatile="Answers so far: goal=classify")
    claude(stub).complete([UserMessage(text="hi")], system=prompt)
    local_openai(stub).complete([UserMessage(text="hi")], system=prompt)
    anthropic_body, openai_body = stub.bodies()
    assert anthropic_body["system"] == [
        {"type": "text", "text": "Rules and the reference index.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answers so far: goal=classify"},
    ]
    assert openai_body["messages"][0] == {
        "role": "system",
        "content": "Rules and the reference index.\n\nAnswers so far: goal=classify",
    }


def test_anthropic_retries_429_and_overloaded_then_succeeds(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(
        anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), 429
    )
    stub.reply(anthropic_error("overloaded_error", "Overloaded"), 529)
    stub.reply(anthropic_message([text_block("ok")]))
    retry, sleeps = fast_retry(max_retries=3)
    turn = claude(stub, retry).complete([UserMessage(text="hi")])
    assert turn.text == "ok" and turn.retries == 2
    assert len(stub.requests) == 3
    assert len(sleeps.waits) == 2 and all(0 < w <= 0.05 for w in sleeps.waits)
    assert sleeps.waits[1] > sleeps.waits[0] * 1.4  # exponential: 0.01 then 0.02, minus at most 25 % jitter


def test_anthropic_honours_retry_after(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(anthropic_error("rate_limit_error", "slow down"), 429, {"retry-after": "0.003"})
    stub.reply(anthropic_message([text_block("ok")]))
    retry, sleeps = fast_retry()
    assert claude(stub, retry).complete([UserMessage(text="hi")]).text == "ok"
    assert sleeps.waits == [0.003]


def test_a_long_retry_after_stops_retrying(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(anthropic_error("rate_limit_error", "daily token quota exhausted"), 429, {"retry-after": "3600"})
    retry, sleeps = fast_retry()
    with pytest.raises(ToolError) as err:
        claude(stub, retry).complete([UserMessage(text="hi")])
    assert err.value.code == "llm_rate_limited" and "quota" in err.value.message
    assert len(stub.requests) == 1 and sleeps.waits == []


def test_anthropic_dropped_connection_then_succeeds(stub: LLMStub, anthropic_key: str) -> None:
    stub.drop()
    stub.reply(anthropic_message([text_block("back")]))
    retry, sleeps = fast_retry()
    turn = claude(stub, retry).complete([UserMessage(text="hi")])
    assert turn.text == "back" and turn.retries == 1 and len(sleeps.waits) == 1
    assert len(stub.requests) == 2


def test_anthropic_usage_cached_tokens_and_cost(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(
        anthropic_message(
            [tool_use_block("toolu_9", "count_rows", {"path": "a", "limit": 5})],
            "tool_use",
            usage=anthropic_usage(input_tokens=40, output_tokens=60, cache_write=3000),
        )
    )
    stub.reply(
        anthropic_message(
            [text_block("done")], usage=anthropic_usage(input_tokens=25, output_tokens=10, cache_read=3000)
        )
    )
    backend = claude(stub, priced=True)
    ledger = backend.new_ledger()
    first = ledger.add(backend.complete([UserMessage(text="go")], TOOLS, system="s"))
    history = [UserMessage(text="go"), first.as_message(), ToolResultMessage(tool_call_id="toolu_9", content="3")]
    second = ledger.add(backend.complete(history, TOOLS, system="s"))

    assert first.usage == Usage(input_tokens=3040, output_tokens=60, cached_tokens=0, cache_write_tokens=3000)
    assert second.usage == Usage(input_tokens=3025, output_tokens=10, cached_tokens=3000, cache_write_tokens=0)
    row = find_model("claude-sonnet-5-5")
    assert row is not None and row.cached_input_per_1m is not None and row.cache_write_per_1m is not None
    expected_first = (40 * row.input_per_1m + 3000 * row.cache_write_per_1m + 60 * row.output_per_1m) / 1e6
    expected_second = (25 * row.input_per_1m + 3000 * row.cached_input_per_1m + 10 * row.output_per_1m) / 1e6
    assert first.cost_usd == pytest.approx(expected_first)
    assert second.cost_usd == pytest.approx(expected_second)
    summary = ledger.summary()
    assert summary.requests == 2 and summary.retries == 0
    assert summary.usage == Usage(input_tokens=6065, output_tokens=70, cached_tokens=3000, cache_write_tokens=3000)
    assert summary.cost_usd == pytest.approx(expected_first + expected_second)
    assert summary.cost_note is None


def test_anthropic_unpriced_on_a_custom_endpoint(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(anthropic_message([text_block("hi")]))
    backend = claude(stub)
    ledger = backend.new_ledger()
    turn = ledger.add(backend.complete([UserMessage(text="hi")]))
    assert turn.cost_usd is None
    assert ledger.cost_usd is None and "no known price" in (ledger.summary().cost_note or "")


def test_anthropic_errors_are_tool_errors_without_the_key(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(anthropic_error("authentication_error", "invalid x-api-key"), 401)
    with pytest.raises(ToolError) as auth:
        claude(stub).complete([UserMessage(text="hi")])
    assert auth.value.code == "llm_auth" and "ANTHROPIC_API_KEY" in auth.value.message
    assert anthropic_key not in str(auth.value) and anthropic_key not in (auth.value.hint or "")

    stub.reply(anthropic_error("not_found_error", "model: claude-nonexistent-9"), 404)
    with pytest.raises(ToolError) as missing:
        AnthropicBackend("claude-nonexistent-9", base_url=stub.url, retry=fast_retry()[0]).complete(
            [UserMessage(text="hi")]
        )
    assert missing.value.code == "llm_unknown_model" and "claude-nonexistent-9" in missing.value.message

    before = len(stub.requests)
    stub.reply(anthropic_error("invalid_request_error", "messages.0.content: text must be non-empty"), 400)
    with pytest.raises(ToolError) as bad:
        claude(stub).complete([UserMessage(text="hi")])
    assert bad.value.code == "llm_bad_request" and "non-empty" in bad.value.message
    assert len(stub.requests) == before + 1  # a 400 is not retried


def test_anthropic_rate_limit_that_outlasts_the_retries(stub: LLMStub, anthropic_key: str) -> None:
    for _ in range(3):
        stub.reply(anthropic_error("rate_limit_error", "rate limited"), 429)
    retry, sleeps = fast_retry(max_retries=2)
    with pytest.raises(ToolError) as err:
        claude(stub, retry).complete([UserMessage(text="hi")])
    assert err.value.code == "llm_rate_limited" and "3 times" in err.value.message
    assert len(stub.requests) == 3 and len(sleeps.waits) == 2


def test_anthropic_missing_key_is_a_clear_error() -> None:
    with pytest.raises(ToolError) as err:
        AnthropicBackend("claude-sonnet-5-5")
    assert err.value.code == "llm_missing_key"
    assert "ANTHROPIC_API_KEY" in err.value.message and "--backend guide" in (err.value.hint or "")


def test_anthropic_refuses_an_openai_model(anthropic_key: str) -> None:
    with pytest.raises(ToolError) as err:
        AnthropicBackend("gpt-5.4")
    assert err.value.code == "llm_unknown_model" and "--backend openai" in (err.value.hint or "")


def test_unreachable_base_url_is_a_clear_error(anthropic_key: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    retry, sleeps = fast_retry(max_retries=2)
    with pytest.raises(ToolError) as err:
        AnthropicBackend("claude-sonnet-5-5", base_url=url, retry=retry).complete([UserMessage(text="hi")])
    assert err.value.code == "llm_unreachable" and url in err.value.message
    assert len(sleeps.waits) == 2

    with pytest.raises(ToolError) as err2:
        OpenAIBackend("llama3", base_url=url + "/v1", retry=fast_retry(max_retries=0)[0]).complete(
            [UserMessage(text="hi")]
        )
    assert err2.value.code == "llm_unreachable" and "server is running" in (err2.value.hint or "")


# ------------------------------------------------------------------------------------------------
# OpenAI and OpenAI-compatible servers


def test_openai_tool_call_then_tool_message_cycle(stub: LLMStub) -> None:
    stub.reply(
        openai_completion(
            tool_calls=[openai_tool_call("call_abc123", "count_rows", {"path": "data/train.jsonl", "limit": None})]
        )
    )
    stub.reply(openai_completion("train.jsonl has 3 rows."))
    backend = local_openai(stub)
    history: list = [UserMessage(text="How many rows?")]
    turn = backend.complete(history, TOOLS, system="You help people fine-tune.")
    assert turn.stop_reason == "tool_use" and turn.raw_stop_reason == "tool_calls"
    assert turn.tool_calls == [
        ToolCall(id="call_abc123", name="count_rows", arguments={"path": "data/train.jsonl", "limit": None})
    ]
    history += [turn.as_message(), ToolResultMessage(tool_call_id="call_abc123", content='{"rows": 3}')]
    final = backend.complete(history, TOOLS, system="You help people fine-tune.")
    assert final.stop_reason == "end_turn" and final.text == "train.jsonl has 3 rows."

    assert [r.path for r in stub.requests] == ["/v1/chat/completions"] * 2
    # No key set: a local server gets a placeholder, never an empty header.
    assert stub.requests[0].headers["authorization"] == "Bearer no-key-needed"
    body = stub.requests[1].body
    assert body["model"] == "qwen2.5-7b-instruct" and body["max_tokens"] == 4096
    assert "max_completion_tokens" not in body
    assert [t["function"]["name"] for t in body["tools"]] == ["count_rows", "quote_job"]
    assert all(t["type"] == "function" and t["function"]["strict"] is True for t in body["tools"])
    assert body["tools"][0]["function"]["parameters"]["additionalProperties"] is False
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["content"] is None
    call = messages[2]["tool_calls"][0]
    assert call["id"] == "call_abc123" and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {"path": "data/train.jsonl", "limit": None}
    assert messages[3] == {"role": "tool", "tool_call_id": "call_abc123", "content": '{"rows": 3}'}


def test_openai_tool_error_is_marked_in_the_tool_message(stub: LLMStub) -> None:
    stub.reply(openai_completion("Sorry, that failed."))
    history = [
        UserMessage(text="quote it"),
        AssistantMessage(tool_calls=[ToolCall(id="call_1", name="quote_job", arguments={"provider": "x"})]),
        ToolResultMessage(tool_call_id="call_1", content='{"code": "declined"}', is_error=True),
    ]
    local_openai(stub).complete(history, TOOLS)
    tool_message = stub.requests[0].body["messages"][-1]
    assert tool_message == {"role": "tool", "tool_call_id": "call_1", "content": 'ERROR: {"code": "declined"}'}


def test_openai_retries_429_and_500_then_succeeds(stub: LLMStub) -> None:
    stub.reply(
        openai_error("Rate limit reached for requests", "requests", "rate_limit_exceeded"), 429, {"retry-after-ms": "2"}
    )
    stub.reply(openai_error("The server had an error while processing your request.", "server_error"), 500)
    stub.reply(openai_completion("ok"))
    retry, sleeps = fast_retry()
    turn = local_openai(stub, retry=retry).complete([UserMessage(text="hi")])
    assert turn.text == "ok" and turn.retries == 2 and len(stub.requests) == 3
    assert sleeps.waits[0] == pytest.approx(0.002)
    assert 0 < sleeps.waits[1] <= 0.05


def test_openai_dropped_connection_then_succeeds(stub: LLMStub) -> None:
    stub.drop().drop()
    stub.reply(openai_completion("back"))
    retry, sleeps = fast_retry()
    turn = local_openai(stub, retry=retry).complete([UserMessage(text="hi")])
    assert turn.text == "back" and turn.retries == 2 and len(sleeps.waits) == 2


def test_openai_usage_cached_tokens_and_cost(stub: LLMStub, openai_key: str) -> None:
    stub.reply(openai_completion("first", usage=openai_usage(prompt=2000, completion=50, cached=1536)))
    stub.reply(openai_completion("second", usage=openai_usage(prompt=2100, completion=40, cached=1920)))
    backend = local_openai(stub, model="gpt-5.4", priced=True)
    assert stub.url in backend.label
    ledger = backend.new_ledger()
    first = ledger.add(backend.complete([UserMessage(text="a")]))
    ledger.add(backend.complete([UserMessage(text="a"), first.as_message(), UserMessage(text="b")]))
    # OPENAI_API_KEY goes to api.openai.com only, never to a --base-url server.
    assert openai_key not in json.dumps(stub.requests[0].headers)
    assert first.model == "gpt-5.4-2026-03-05"  # a dated snapshot, priced by its undated row
    assert first.usage == Usage(input_tokens=2000, output_tokens=50, cached_tokens=1536)
    row = find_model("gpt-5.4")
    assert row is not None and row.cached_input_per_1m is not None
    expected = (
        (464 * row.input_per_1m + 1536 * row.cached_input_per_1m + 50 * row.output_per_1m)
        + (180 * row.input_per_1m + 1920 * row.cached_input_per_1m + 40 * row.output_per_1m)
    ) / 1e6
    summary = ledger.summary()
    assert summary.usage == Usage(input_tokens=4100, output_tokens=90, cached_tokens=3456)
    assert summary.cost_usd == pytest.approx(expected)
    assert summary.backend == "openai" and summary.model == "gpt-5.4"


def test_openai_malformed_arguments_become_a_parse_error(stub: LLMStub) -> None:
    stub.reply(
        openai_completion(tool_calls=[openai_tool_call("call_x", "count_rows", '{"path": "a",')], finish_reason="stop")
    )
    turn = local_openai(stub).complete([UserMessage(text="hi")], TOOLS)
    assert turn.stop_reason == "tool_use"  # tool calls present, whatever finish_reason a local server sends
    assert turn.tool_calls[0].arguments == {} and "not valid JSON" in (turn.tool_calls[0].parse_error or "")


def test_openai_official_endpoint_request_shape(openai_key: str) -> None:
    backend = OpenAIBackend()
    assert backend.model == default_model("openai") and not backend.custom_endpoint and backend.priced
    body = backend.request_body([UserMessage(text="hi")], TOOLS, system="s", max_tokens=1000)
    assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body
    assert openai_key not in backend.label


def test_openai_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError) as no_key:
        OpenAIBackend("gpt-5.4")
    assert no_key.value.code == "llm_missing_key" and "OPENAI_API_KEY" in no_key.value.message
    with pytest.raises(ToolError) as no_model:
        OpenAIBackend(base_url="http://localhost:8000/v1")
    assert no_model.value.code == "llm_unknown_model" and "--model" in (no_model.value.hint or "")
    with pytest.raises(ToolError) as bad_url:
        OpenAIBackend("llama3", base_url="localhost:8000")
    assert bad_url.value.code == "llm_bad_base_url"
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    with pytest.raises(ToolError) as wrong:
        OpenAIBackend("claude-sonnet-5-5")
    assert wrong.value.code == "llm_unknown_model"


def test_a_base_url_server_gets_its_own_key(stub: LLMStub, openai_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_SERVER_API_KEY", "vllm-secret-token")
    stub.reply(openai_error("Unauthorized", "invalid_request_error"), 401)
    stub.reply(openai_completion("ok"))
    backend = local_openai(stub)
    with pytest.raises(ToolError) as err:
        backend.complete([UserMessage(text="hi")])
    assert err.value.code == "llm_auth" and "FINETUNE_SERVER_API_KEY" in (err.value.hint or "")
    assert "vllm-secret-token" not in str(err.value)
    assert backend.complete([UserMessage(text="hi")]).text == "ok"
    assert {r.headers["authorization"] for r in stub.requests} == {"Bearer vllm-secret-token"}


def test_openai_unknown_model_on_a_local_server(stub: LLMStub) -> None:
    stub.reply(openai_error("The model `llama9` does not exist.", "NotFoundError"), 404)
    with pytest.raises(ToolError) as err:
        local_openai(stub, model="llama9").complete([UserMessage(text="hi")])
    assert err.value.code == "llm_unknown_model" and "/v1" in (err.value.hint or "")


# ------------------------------------------------------------------------------------------------
# Streaming (on_text)


def test_anthropic_streams_text_and_assembles_the_turn(stub: LLMStub, anthropic_key: str) -> None:
    message = anthropic_message(
        [
            thinking_block("Count first."),
            text_block("Counting the rows of train.jsonl now."),
            tool_use_block("toolu_s1", "count_rows", {"path": "train.jsonl", "limit": 10}),
        ],
        "tool_use",
        usage=anthropic_usage(input_tokens=12, output_tokens=48, cache_read=2048),
    )
    stub.stream(anthropic_sse(message))
    pieces: list[str] = []
    turn = claude(stub, priced=True).complete([UserMessage(text="count")], TOOLS, system="s", on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == "Counting the rows of train.jsonl now."
    assert turn.text == "Counting the rows of train.jsonl now."
    assert turn.tool_calls == [
        ToolCall(id="toolu_s1", name="count_rows", arguments={"path": "train.jsonl", "limit": 10})
    ]
    assert turn.stop_reason == "tool_use"
    assert turn.usage == Usage(input_tokens=2060, output_tokens=48, cached_tokens=2048)
    assert turn.cost_usd is not None and turn.cost_usd > 0
    assert turn.provider_content is not None and turn.provider_content[0]["type"] == "thinking"
    assert turn.provider_content[0]["signature"] == SIGNATURE
    body = stub.requests[0].body
    assert body["stream"] is True and body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


def test_stream_lost_before_any_text_is_retried(stub: LLMStub, anthropic_key: str) -> None:
    message = anthropic_message([text_block("Hello there.")])
    stub.stream(anthropic_sse(message), cut_after=1)  # message_start only, then the connection drops
    stub.stream(anthropic_sse(message))
    retry, sleeps = fast_retry()
    pieces: list[str] = []
    turn = claude(stub, retry).complete([UserMessage(text="hi")], on_text=pieces.append)
    assert turn.text == "Hello there." and "".join(pieces) == "Hello there."
    assert turn.retries == 1 and len(stub.requests) == 2 and len(sleeps.waits) == 1


def test_stream_lost_mid_answer_is_not_replayed(stub: LLMStub, anthropic_key: str) -> None:
    message = anthropic_message([text_block("A long answer that will be cut.")])
    stub.stream(anthropic_sse(message), cut_after=4)  # start, block start, two text deltas
    stub.reply(anthropic_message([text_block("never sent")]))
    pieces: list[str] = []
    with pytest.raises(ToolError) as err:
        claude(stub).complete([UserMessage(text="hi")], on_text=pieces.append)
    assert err.value.code == "llm_stream_interrupted" and pieces
    assert len(stub.requests) == 1  # the person already saw part of it: no silent retry


def test_openai_streams_text_and_tool_calls(stub: LLMStub) -> None:
    completion = openai_completion(
        "Let me check both files.",
        [
            openai_tool_call("call_s1", "count_rows", {"path": "a.jsonl", "limit": None}),
            openai_tool_call("call_s2", "count_rows", {"path": "b.jsonl", "limit": 5}),
        ],
        usage=openai_usage(prompt=900, completion=40, cached=768),
    )
    stub.reply(openai_error("Rate limit reached", "requests", "rate_limit_exceeded"), 429)
    stub.stream(openai_sse(completion))
    pieces: list[str] = []
    turn = local_openai(stub, model="gpt-5.4", priced=True).complete(
        [UserMessage(text="count")], TOOLS, on_text=pieces.append
    )
    assert len(pieces) > 1 and "".join(pieces) == "Let me check both files." == turn.text
    assert turn.tool_calls == [
        ToolCall(id="call_s1", name="count_rows", arguments={"path": "a.jsonl", "limit": None}),
        ToolCall(id="call_s2", name="count_rows", arguments={"path": "b.jsonl", "limit": 5}),
    ]
    assert turn.stop_reason == "tool_use" and turn.retries == 1
    assert turn.usage == Usage(input_tokens=900, output_tokens=40, cached_tokens=768)
    assert turn.model == "gpt-5.4-2026-03-05" and turn.cost_usd is not None
    body = stub.requests[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_openai_stream_cut_mid_answer(stub: LLMStub) -> None:
    stub.stream(openai_sse(openai_completion("One two three four five six.")), cut_after=3)
    pieces: list[str] = []
    with pytest.raises(ToolError) as err:
        local_openai(stub).complete([UserMessage(text="hi")], on_text=pieces.append)
    assert err.value.code == "llm_stream_interrupted" and pieces and len(stub.requests) == 1


# ------------------------------------------------------------------------------------------------
# Shapes without a server


def test_history_round_trips_as_json() -> None:
    history = History(
        messages=[
            UserMessage(text="hi"),
            AssistantMessage(
                text="calling",
                tool_calls=[ToolCall(id="t1", name="count_rows", arguments={"path": "a"})],
                provider="anthropic",
                provider_content=[{"type": "text", "text": "calling"}],
            ),
            ToolResultMessage(tool_call_id="t1", content="3", is_error=False),
        ]
    )
    again = History.model_validate_json(history.model_dump_json())
    assert again == history
    assert to_openai_messages(again.messages)[1]["tool_calls"][0]["function"]["name"] == "count_rows"
    assert to_anthropic_messages(again.messages)[1]["content"] == [{"type": "text", "text": "calling"}]


def test_foreign_assistant_turns_are_rebuilt_for_anthropic() -> None:
    """A turn produced by another backend carries no Anthropic blocks: it is rebuilt from text + calls."""
    message = AssistantMessage(
        text="x", tool_calls=[ToolCall(id="c1", name="n", arguments={"a": 1})], provider="openai", provider_content=None
    )
    content = to_anthropic_messages([UserMessage(text="q"), message], cache_last=False)[1]["content"]
    assert content == [{"type": "text", "text": "x"}, {"type": "tool_use", "id": "c1", "name": "n", "input": {"a": 1}}]


def test_turn_as_message_keeps_calls() -> None:
    turn = Turn(text="t", tool_calls=[ToolCall(id="1", name="n")], stop_reason="tool_use", model="m", backend="openai")
    assert turn.as_message() == AssistantMessage(text="t", tool_calls=[ToolCall(id="1", name="n")], provider="openai")


def test_retry_policy_backoff_grows_and_caps() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.0)
    assert [policy.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(0, retry_after=3.0) == 3.0
    assert policy.delay(0, retry_after=10_000.0) == 1.0  # an absurd server wait falls back to backoff


def test_usage_ledger_with_no_requests() -> None:
    ledger = UsageLedger("anthropic", "m")
    assert ledger.cost_usd == 0.0 and ledger.summary().requests == 0


# ------------------------------------------------------------------------------------------------
# Prices (reference/data/agent_models.yaml)


def test_agent_models_facts_load_with_sources() -> None:
    facts = agent_models()
    assert isinstance(facts, AgentModelsFile)
    assert {row.provider for row in facts.models} == {"anthropic", "openai"}
    for row in facts.models:
        assert isinstance(row, Fact)
        assert row.source.startswith("https://") and row.as_of.year >= 2026
        assert row.input_per_1m > 0 and row.output_per_1m > 0
    assert find_model(default_model("anthropic")) is not None and find_model(default_model("openai")) is not None


def test_model_shutdown_notice() -> None:
    ending = [row for row in agent_models().models if row.available_until is not None]
    assert ending, "agent_models.yaml lists no model with available_until"
    row = ending[0]
    assert "shut down" in (model_notice(row.model, today=row.available_until) or "")
    assert "shuts down" in (model_notice(row.model, today=row.available_until - timedelta(days=10)) or "")
    assert model_notice(row.model, today=row.available_until - timedelta(days=400)) is None
    assert model_notice("some-local-model") is None


def test_snapshot_ids_are_priced_by_their_row() -> None:
    assert undated("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert undated("gpt-5.4-mini-2026-03-17") == "gpt-5.4-mini"
    assert undated("gpt-5.4") == "gpt-5.4"
    assert find_model("gpt-5.4-nano") is None  # not silently priced as gpt-5.4


# ------------------------------------------------------------------------------------------------
# select_backend


def test_select_guide_without_keys() -> None:
    selection = select_backend()
    assert selection.name == "guide" and selection.backend is None and selection.is_guide
    assert "ANTHROPIC_API_KEY" in selection.reason and "offline guide" in selection.describe()


def test_select_prefers_anthropic_then_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    only_openai = select_backend()
    assert only_openai.name == "openai" and isinstance(only_openai.backend, OpenAIBackend)
    assert "OPENAI_API_KEY is set" in only_openai.describe()
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    both = select_backend()
    assert both.name == "anthropic" and isinstance(both.backend, AnthropicBackend)
    assert both.backend.model == default_model("anthropic")
    assert ANTHROPIC_KEY not in both.describe()
    assert select_backend(model="gpt-5.4-mini").name == "openai"  # the model says which provider
    ending = next(row for row in agent_models().models if row.available_until is not None)
    assert "shut" in (select_backend(model=ending.model).notice or "")  # shut down, or shuts down soon
    assert select_backend("OpenAI").name == "openai"


def test_select_base_url_means_the_openai_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    selection = select_backend(model="llama3.1:8b", base_url="http://localhost:11434/v1")
    assert selection.name == "openai" and selection.backend is not None
    assert selection.backend.base_url == "http://localhost:11434/v1" and "OpenAI-compatible" in selection.reason


def test_select_errors() -> None:
    with pytest.raises(ToolError) as unknown:
        select_backend("gemini")
    assert unknown.value.code == "llm_unknown_backend" and "anthropic, openai, guide" in (unknown.value.hint or "")
    with pytest.raises(ToolError) as guide_model:
        select_backend("guide", model="claude-sonnet-5-5")
    assert guide_model.value.code == "llm_bad_option"
    with pytest.raises(ToolError) as no_key:
        select_backend("anthropic")
    assert no_key.value.code == "llm_missing_key"
    with pytest.raises(ToolError) as model_no_key:
        select_backend(model="some-local-model")
    assert model_no_key.value.code == "llm_missing_key" and "--base-url" in (model_no_key.value.hint or "")
    assert select_backend("guide").name == "guide"


def test_a_server_that_does_not_speak_the_api_is_a_clear_error(stub: LLMStub, anthropic_key: str) -> None:
    stub.reply(b"<html><body>It works!</body></html>")
    with pytest.raises(ToolError) as html:
        local_openai(stub).complete([UserMessage(text="hi")])
    assert html.value.code == "llm_bad_response"
    stub.reply({"status": "ok"})
    with pytest.raises(ToolError) as other:
        claude(stub).complete([UserMessage(text="hi")])
    assert other.value.code == "llm_bad_response"
    stub.reply({"id": "x", "object": "chat.completion", "choices": [], "model": "m"})
    with pytest.raises(ToolError) as empty:
        local_openai(stub).complete([UserMessage(text="hi")])
    assert empty.value.code == "llm_bad_response"


@pytest.mark.parametrize("flavour", ["anthropic", "openai"])
def test_a_provider_key_never_goes_to_a_base_url_the_person_did_not_configure(
    flavour: str, anthropic_key: str, openai_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base_url is an argument a model can write (run_eval candidates): the provider key stays home."""
    with LLMStub() as other:
        if flavour == "anthropic":
            other.reply(anthropic_message([text_block("hi")], "end_turn"))
            backend = AnthropicBackend("claude-sonnet-5-5", base_url=other.url, retry=fast_retry()[0])
        else:
            other.reply(openai_completion("hi", model="llama3"))
            backend = OpenAIBackend("llama3", base_url=other.url + "/v1", retry=fast_retry()[0])
        backend.complete([UserMessage(text="hello")])
        headers = other.requests[0].headers
        sent = " ".join(str(v) for v in headers.values())
        assert anthropic_key not in sent and openai_key not in sent
        monkeypatch.setenv("FINETUNE_SERVER_API_KEY", "server-key-for-this-proxy")
        again = (
            AnthropicBackend("claude-sonnet-5-5", base_url=other.url, retry=fast_retry()[0])
            if flavour == "anthropic"
            else OpenAIBackend("llama3", base_url=other.url + "/v1", retry=fast_retry()[0])
        )
        other.reply(
            anthropic_message([text_block("hi")], "end_turn")
            if flavour == "anthropic"
            else openai_completion("hi", model="llama3")
        )
        again.complete([UserMessage(text="hello")])
        assert "server-key-for-this-proxy" in " ".join(str(v) for v in other.requests[1].headers.values())
