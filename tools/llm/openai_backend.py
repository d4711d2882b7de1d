"""The ``openai`` backend: Chat Completions function tools through the openai SDK.

Tools are sent with strict schemas (``strict`` always set explicitly, see tools.core.schemas). The same
backend talks to any OpenAI-compatible server through ``base_url`` (vLLM, Ollama, llama.cpp): that is
how a person whose data must stay on premises runs the agent. Such a server gets the key in
FINETUNE_SERVER_API_KEY when its operator set one (vLLM ``--api-key``), a placeholder otherwise;
OPENAI_API_KEY is never sent anywhere but api.openai.com. It has no per-token price.

Tool results go back as ``role: tool`` messages; Chat Completions has no error flag, so a failed
call's content is prefixed with ``ERROR:``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.core.schemas import openai_chat_tool
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

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
OFFICIAL_HOST = "api.openai.com"
NO_KEY = "no-key-needed"  # local servers ignore the key, but the SDK requires one
ERROR_PREFIX = "ERROR: "

_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def to_openai_messages(
    messages: Sequence[UserMessage | AssistantMessage | ToolResultMessage], system: str | SystemPrompt = ""
) -> list[dict[str, Any]]:
    """The neutral history as Chat Completions ``messages``.

    The system prompt is one message, stable part first: OpenAI caches the longest repeated prefix
    by itself, so the volatile part at the end keeps the stable part cacheable.
    """
    out: list[dict[str, Any]] = []
    text = SystemPrompt.of(system).text
    if text:
        out.append({"role": "system", "content": text})
    for message in messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.text})
        elif isinstance(message, ToolResultMessage):
            content = message.content or "(no output)"
            if message.is_error and not content.startswith(ERROR_PREFIX):
                content = ERROR_PREFIX + content
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": content})
        else:
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                    }
                    for call in message.tool_calls
                ]
            elif not message.text:
                entry["content"] = "(no reply)"
            out.append(entry)
    return out


def openai_tool_definitions(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return [openai_chat_tool(spec) for spec in tools]


def parse_arguments(raw: str | None) -> tuple[dict[str, Any], str | None]:
    """Arguments JSON -> (dict, None), or ({}, why) when it is not a JSON object."""
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"the arguments were not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return {}, "the arguments were not a JSON object"
    return value, None


class StreamedCompletion:
    """Assembles Chat Completions stream chunks into the shape of a non-streamed completion."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: str | None = None

    def add(self, chunk: Any, emit: Callable[[str], None]) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue
            delta = choice.delta
            if delta is not None and delta.content:
                self.text.append(delta.content)
                emit(delta.content)
            for call in (delta.tool_calls if delta is not None else None) or []:
                slot = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function is not None:
                    name = call.function.name or ""
                    if name and name != slot["name"]:  # sent once by OpenAI; some servers repeat it
                        slot["name"] += name
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def as_completion(self) -> Any:
        calls = [
            SimpleNamespace(
                id=slot["id"], type="function", function=SimpleNamespace(name=slot["name"], arguments=slot["arguments"])
            )
            for _, slot in sorted(self.calls.items())
        ]
        message = SimpleNamespace(content="".join(self.text) or None, tool_calls=calls or None)
        return SimpleNamespace(
            choices=[SimpleNamespace(message=message, finish_reason=self.finish_reason)],
            usage=self.usage,
            model=self.model,
        )


class OpenAIBackend(LLMBackend):
    name = "openai"

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
        if own:
            if key is None:
                raise missing_key(key_env, "openai")
            chosen = require_model(model, self.name) if model is not None else default_model("openai")
            check_provider(chosen, "openai")
        else:
            chosen = require_model(model, self.name)
        super().__init__(model=chosen, base_url=base_url, retry=retry, timeout=timeout)
        self.key_env = key_env
        import openai

        self._sdk = openai
        # The SDK's own retries are off: ours (RetryPolicy) count retries and have injectable timing.
        self.client = openai.OpenAI(api_key=key or NO_KEY, base_url=base_url, max_retries=0, timeout=timeout)
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
        """The keyword arguments of ``chat.completions.create`` for this history (also used by tests)."""
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages, system)}
        # api.openai.com wants max_completion_tokens (max_tokens is refused by reasoning models);
        # OpenAI-compatible servers do not all know the newer name.
        body["max_tokens" if self.custom_endpoint else "max_completion_tokens"] = max_tokens
        if tools:
            body["tools"] = openai_tool_definitions(tools)
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
                return self.client.chat.completions.create(**body)
            collected = StreamedCompletion()
            with self.client.chat.completions.create(
                **body, stream=True, stream_options={"include_usage": True}
            ) as stream:
                for chunk in stream:
                    collected.add(chunk, guard)
            return collected.as_completion()

        def classify(exc: Exception) -> tuple[bool, float | None]:
            if guard.emitted:
                return False, None
            return classify_sdk_error(exc, sdk.APIStatusError, sdk.APIConnectionError)

        def fail(exc: Exception, retries: int) -> ToolError:
            if guard.emitted:
                return interrupted("openai", self.endpoint, exc)
            return sdk_failure(
                exc,
                retries,
                provider="openai",
                model=self.model,
                endpoint=self.endpoint,
                key_env=self.key_env,
                custom_endpoint=self.custom_endpoint,
                status_error=sdk.APIStatusError,
                connection_error=sdk.APIConnectionError,
                known=known_models("openai"),
            )

        errors = (sdk.OpenAIError, json.JSONDecodeError, *transport_errors())
        response, retries = self._with_retries(send, errors, classify, fail)
        return self._parse(self._turn, response, retries)

    def _turn(self, response: Any, retries: int) -> Turn:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise ToolError(
                "llm_bad_response",
                f"{self.endpoint} returned a completion with no choices",
                "check that the server supports chat completions with tools",
            )
        choice = choices[0]
        message = choice.message
        calls: list[ToolCall] = []
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is None:  # a custom (non-function) tool call: not something we define
                continue
            args, problem = parse_arguments(function.arguments)
            calls.append(
                ToolCall(
                    id=call.id or f"call_{uuid.uuid4().hex[:24]}",
                    name=function.name,
                    arguments=args,
                    parse_error=problem,
                )
            )
        raw_stop = choice.finish_reason
        stop: StopReason = "tool_use" if calls else _STOP.get(raw_stop or "", "other")
        u = getattr(response, "usage", None)
        details = getattr(u, "prompt_tokens_details", None) if u is not None else None
        usage = Usage(
            input_tokens=getattr(u, "prompt_tokens", 0) or 0,
            output_tokens=getattr(u, "completion_tokens", 0) or 0,
            cached_tokens=getattr(details, "cached_tokens", 0) or 0,
            cache_write_tokens=getattr(details, "cache_write_tokens", 0) or 0,
        )
        model = getattr(response, "model", None) or self.model
        return Turn(
            text=message.content or "",
            tool_calls=calls,
            stop_reason=stop,
            raw_stop_reason=raw_stop,
            usage=usage,
            cost_usd=self._cost(model, usage),
            model=model,
            backend=self.name,
            retries=retries,
        )

    def _cost(self, model: str, usage: Usage) -> float | None:
        if not self.priced:
            return None
        row = find_model(model) or find_model(self.model)
        return row.cost(usage) if row is not None else None
