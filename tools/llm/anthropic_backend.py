"""The ``anthropic`` backend: Messages API tool use through the anthropic SDK.

Prompt caching: ``cache_control`` marks the last tool definition (caches every tool), the system
block (caches tools + system prompt) and the last block of the newest user turn (caches the
conversation so far), three of the four breakpoints a request may carry. Tool results go back as
``tool_result`` blocks at the start of the user turn, with ``is_error`` for failures. Thinking
blocks that newer models return travel back verbatim on the next request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.core.schemas import anthropic_tools
from tools.llm.base import (
    AssistantMessage,
    LLMBackend,
    StopReason,
    SystemPrompt,
    ToolCall,
    ToolResultMessage,
    Turn,
    Usage,
    UserMessage,
)
from tools.llm.pricing import check_provider, default_model, find_model, known_models
from tools.llm.transport import (
    RetryPolicy,
    StreamGuard,
    check_url,
    classify_sdk_error,
    env_key,
    interrupted,
    key_route,
    missing_key,
    require_model,
    sdk_failure,
    transport_errors,
)

KEY_ENV = "ANTHROPIC_API_KEY"
OFFICIAL_HOST = "api.anthropic.com"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
NO_KEY = "none"  # the SDK insists on a key; a server that needs none ignores it
CACHE = {"type": "ephemeral"}

_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
}


def to_anthropic_messages(
    messages: Sequence[UserMessage | AssistantMessage | ToolResultMessage], *, cache_last: bool = True
) -> list[dict[str, Any]]:
    """The neutral history as Messages API ``messages``.

    Consecutive tool results and user text merge into one user turn with every ``tool_result``
    block first (the API rejects text before them); assistant turns produced by this backend are
    replayed from their original blocks so thinking signatures survive.
    """
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def flush() -> None:
        if results or texts:
            out.append({"role": "user", "content": [*results, *texts]})
            results.clear()
            texts.clear()

    for message in messages:
        if isinstance(message, ToolResultMessage):
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content or "(no output)",
            }
            if message.is_error:
                block["is_error"] = True
            results.append(block)
        elif isinstance(message, UserMessage):
            if message.text.strip():
                texts.append({"type": "text", "text": message.text})
        else:
            flush()
            out.append({"role": "assistant", "content": _assistant_content(message)})
    flush()
    if cache_last and out and out[-1]["role"] == "user":
        out[-1]["content"][-1]["cache_control"] = dict(CACHE)
    return out


def _assistant_content(message: AssistantMessage) -> list[dict[str, Any]]:
    if message.provider == "anthropic" and message.provider_content:
        return copy.deepcopy(message.provider_content)
    content: list[dict[str, Any]] = []
    if message.text.strip():
        content.append({"type": "text", "text": message.text})
    for call in message.tool_calls:
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    return content or [{"type": "text", "text": "(no reply)"}]


def anthropic_tool_definitions(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """tools.core.schemas.anthropic_tools with ``cache_control`` on the last definition."""
    rendered = anthropic_tools(tools)
    if rendered:
        rendered[-1]["cache_control"] = dict(CACHE)
    return rendered


def _block_dict(block: Any) -> dict[str, Any] | None:
    """A response content block as it must be sent back; None for blocks we do not replay."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return None


class AnthropicBackend(LLMBackend):
    name = "anthropic"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 300.0,
        api_key_env: str = KEY_ENV,
        priced: bool | None = None,
    ) -> None:
        if base_url is not None:
            check_url(base_url)
        key_env, own = key_route(api_key_env, BASE_URL_ENV, OFFICIAL_HOST, base_url)
        key = env_key(key_env)
        if key is None and own:
            raise missing_key(key_env, "anthropic")
        chosen = require_model(model, self.name) if model is not None else default_model("anthropic")
        if own:
            check_provider(chosen, "anthropic")
        super().__init__(model=chosen, base_url=base_url, retry=retry, timeout=timeout)
        self.key_env = key_env
        import anthropic

        self._sdk = anthropic
        # The SDK's own retries are off: ours (RetryPolicy) count retries and have injectable timing.
        self.client = anthropic.Anthropic(api_key=key or NO_KEY, base_url=base_url, max_retries=0, timeout=timeout)
        self.endpoint = str(self.client.base_url).rstrip("/")
        self.custom_endpoint = urlparse(self.endpoint).hostname != OFFICIAL_HOST
        # Prices from agent_models.yaml apply on the provider's own API; a proxy in front of it may say so.
        self.priced = not self.custom_endpoint if priced is None else priced

    def request_body(
        self,
        messages: Sequence[UserMessage | AssistantMessage | ToolResultMessage],
        tools: Sequence[Tool] = (),
        *,
        system: str | SystemPrompt = "",
        max_tokens: int = 4096,
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for this history (also used by tests)."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": to_anthropic_messages(messages),
        }
        prompt = SystemPrompt.of(system)
        blocks = []
        if prompt.stable.strip():
            blocks.append({"type": "text", "text": prompt.stable, "cache_control": dict(CACHE)})
        if prompt.volatile.strip():
            blocks.append({"type": "text", "text": prompt.volatile})
        if blocks:
            body["system"] = blocks
        if tools:
            body["tools"] = anthropic_tool_definitions(tools)
        return body

    def complete(
        self,
        messages: Sequence[UserMessage | AssistantMessage | ToolResultMessage],
        tools: Sequence[Tool] = (),
        *,
        system: str | SystemPrompt = "",
        max_tokens: int = 4096,
        on_text: Callable[[str], None] | None = None,
    ) -> Turn:
        if not messages:
            raise ToolError("llm_bad_request", "the conversation is empty", "start it with a user message")
        body = self.request_body(messages, tools, system=system, max_tokens=max_tokens)
        sdk = self._sdk
        guard = StreamGuard(on_text)

        def send() -> Any:
            if on_text is None:
                return self.client.messages.create(**body)
            with self.client.messages.stream(**body) as stream:
                for text in stream.text_stream:
                    guard(text)
                return stream.get_final_message()

        def classify(exc: Exception) -> tuple[bool, float | None]:
            if guard.emitted:
                return False, None
            return classify_sdk_error(exc, sdk.APIStatusError, sdk.APIConnectionError)

        def fail(exc: Exception, retries: int) -> ToolError:
            if guard.emitted:
                return interrupted("anthropic", self.endpoint, exc)
            return sdk_failure(
                exc,
                retries,
                provider="anthropic",
                model=self.model,
                endpoint=self.endpoint,
                key_env=self.key_env,
                custom_endpoint=self.custom_endpoint,
                status_error=sdk.APIStatusError,
                connection_error=sdk.APIConnectionError,
                known=known_models("anthropic"),
            )

        errors = (sdk.AnthropicError, json.JSONDecodeError, *transport_errors())
        response, retries = self._with_retries(send, errors, classify, fail)
        return self._parse(self._turn, response, retries)

    def _turn(self, response: Any, retries: int) -> Turn:
        texts: list[str] = []
        calls: list[ToolCall] = []
        replay: list[dict[str, Any]] = []
        for block in response.content or []:
            kind = getattr(block, "type", None)
            if kind == "text" and block.text:
                texts.append(block.text)
            elif kind == "tool_use":
                args = block.input
                if isinstance(args, dict):
                    calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(args)))
                else:
                    calls.append(
                        ToolCall(id=block.id, name=block.name, parse_error="the tool input was not a JSON object")
                    )
            as_dict = _block_dict(block)
            if as_dict is not None:
                replay.append(as_dict)
        raw_stop = response.stop_reason
        stop: StopReason = "tool_use" if calls else _STOP.get(raw_stop or "", "other")
        u = response.usage
        usage = Usage(
            input_tokens=(
                (u.input_tokens or 0) + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
            ),
            output_tokens=u.output_tokens or 0,
            cached_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
        )
        model = response.model or self.model
        # Text blocks are parts of one answer (citations split it into many): join them as streamed.
        return Turn(
            text="".join(texts),
            tool_calls=calls,
            stop_reason=stop,
            raw_stop_reason=raw_stop,
            usage=usage,
            cost_usd=self._cost(model, usage),
            model=model,
            backend=self.name,
            retries=retries,
            provider_content=replay or None,
        )

    def _cost(self, model: str, usage: Usage) -> float | None:
        if not self.priced:
            return None
        row = find_model(model) or find_model(self.model)
        return row.cost(usage) if row is not None else None
