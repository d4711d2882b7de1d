"""The contract every LLM backend keeps: a provider-neutral history and tools in, a :class:`Turn` out.

The agent loop holds the conversation as a list of :data:`Message` (person's text, the assistant's
text and tool calls, tool results with ``is_error``) and calls ``backend.complete(messages, tools,
system=..., on_text=...)``. Each backend converts that history to its wire format, sends it with
retries (429, 5xx, dropped connections), optionally streams the text to ``on_text``, and returns one
:class:`Turn`: the text, the tool calls with their arguments parsed into a dict, a normalised stop
reason, token usage and the estimated cost of that request. A :class:`UsageLedger` adds up turns
for one conversation. A :class:`SystemPrompt` with a ``volatile`` part keeps prompt caching working
while the checklist answers in the prompt change.

Failures a person can act on (no key, unknown model, unreachable server, rejected key, rate limits
that outlast the retries) come out as :class:`tools.core.errors.ToolError` with a hint, never a traceback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.llm.transport import RetryPolicy, short

__all__ = [
    "AssistantMessage",
    "History",
    "LLMBackend",
    "Message",
    "RetryPolicy",
    "StopReason",
    "SystemPrompt",
    "ToolCall",
    "ToolResultMessage",
    "Turn",
    "Usage",
    "UsageLedger",
    "UsageSummary",
    "UserMessage",
]

# --------------------------------------------------------------------------------------------------
# Messages (the provider-neutral history)


class ToolCall(BaseModel):
    """One tool call the model asked for. ``arguments`` is always a dict; when the model sent
    arguments that are not a JSON object, it is empty and ``parse_error`` says why (send that back
    as an error tool result)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    parse_error: str | None = None


class UserMessage(BaseModel):
    """What the person said (or the loop says on their behalf)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user"] = "user"
    text: str


class AssistantMessage(BaseModel):
    """A model turn as it goes back into the history.

    ``provider_content`` carries blocks a provider needs back verbatim on the next request (Anthropic
    thinking blocks with their signatures, in their original order); only the backend named in
    ``provider`` uses it, any other backend rebuilds the message from ``text`` and ``tool_calls``.
    """

    model_config = ConfigDict(extra="forbid")

    role: Literal["assistant"] = "assistant"
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    provider: str | None = None
    provider_content: list[dict[str, Any]] | None = None


class ToolResultMessage(BaseModel):
    """The result of one tool call. ``content`` is what the model reads (JSON text is fine);
    ``is_error`` marks a failed call (a ToolError, a declined confirmation, bad arguments)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str | None = None
    content: str
    is_error: bool = False


Message = Annotated[UserMessage | AssistantMessage | ToolResultMessage, Field(discriminator="role")]


class History(BaseModel):
    """A whole conversation, for saving a transcript and loading it back."""

    messages: list[Message] = Field(default_factory=list)


class SystemPrompt(BaseModel):
    """A system prompt in two parts, so prompt caching survives a prompt that changes mid-conversation.

    ``stable`` (rules, reference index, tool guidance) is cached; ``volatile`` (the checklist answers
    so far, today's date) goes after the cache breakpoint, so changing it does not invalidate the
    cached ``stable`` part. A plain ``str`` system prompt is all stable.
    """

    model_config = ConfigDict(extra="forbid")

    stable: str
    volatile: str = ""

    @classmethod
    def of(cls, system: str | SystemPrompt) -> SystemPrompt:
        return system if isinstance(system, SystemPrompt) else cls(stable=system)

    @property
    def text(self) -> str:
        return "\n\n".join(part for part in (self.stable, self.volatile) if part.strip())


# --------------------------------------------------------------------------------------------------
# What comes back

StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal", "other"]


class Usage(BaseModel):
    """Tokens of one request (or a sum of requests).

    ``input_tokens`` counts every prompt token, cached ones included; ``cached_tokens`` of them were
    read from the prompt cache and ``cache_write_tokens`` written to it (Anthropic bills writes at a
    premium; OpenAI does not bill them separately).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        return max(self.input_tokens - self.cached_tokens - self.cache_write_tokens, 0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class Turn(BaseModel):
    """One model response."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    stop_reason: StopReason
    raw_stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    """Estimated cost of this request in USD; None when no price is known (self-hosted server,
    a model missing from reference/data/agent_models.yaml)."""
    model: str
    backend: str
    retries: int = 0
    provider_content: list[dict[str, Any]] | None = None

    def as_message(self) -> AssistantMessage:
        """This turn as the assistant message to append to the history."""
        return AssistantMessage(
            text=self.text,
            tool_calls=list(self.tool_calls),
            provider=self.backend,
            provider_content=self.provider_content,
        )


class UsageSummary(BaseModel):
    backend: str
    model: str
    requests: int
    retries: int
    usage: Usage
    cost_usd: float | None
    cost_note: str | None = None


class UsageLedger:
    """Adds up the turns of one conversation: tokens, cached tokens, retries and estimated cost."""

    def __init__(self, backend: str = "", model: str = "") -> None:
        self.backend = backend
        self.model = model
        self.requests = 0
        self.retries = 0
        self.usage = Usage()
        self._cost = 0.0
        self._unpriced = 0

    def add(self, turn: Turn) -> Turn:
        self.backend = self.backend or turn.backend
        self.model = self.model or turn.model
        self.requests += 1
        self.retries += turn.retries
        self.usage = self.usage + turn.usage
        if turn.cost_usd is None:
            self._unpriced += 1
        else:
            self._cost += turn.cost_usd
        return turn

    @property
    def cost_usd(self) -> float | None:
        """The estimated cost so far; None when no request had a known price."""
        if self.requests and self._unpriced == self.requests:
            return None
        return round(self._cost, 6)

    def summary(self) -> UsageSummary:
        note = None
        if self._unpriced:
            note = (
                f"{self._unpriced} of {self.requests} requests had no known price "
                "(self-hosted server or a model missing from reference/data/agent_models.yaml)"
            )
        return UsageSummary(
            backend=self.backend,
            model=self.model,
            requests=self.requests,
            retries=self.retries,
            usage=self.usage,
            cost_usd=self.cost_usd,
            cost_note=note,
        )


# --------------------------------------------------------------------------------------------------
# The backend interface

T = TypeVar("T")


class LLMBackend(ABC):
    """One model endpoint. Stateless between calls: the history travels in every request."""

    name: str = ""

    def __init__(
        self, *, model: str, base_url: str | None = None, retry: RetryPolicy | None = None, timeout: float = 300.0
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.timeout = timeout

    @property
    def label(self) -> str:
        """How the CLI names this backend: ``anthropic (claude-sonnet-5-5)``, ``openai (llama3 at URL)``."""
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.name} ({self.model}{where})"

    def new_ledger(self) -> UsageLedger:
        return UsageLedger(self.name, self.model)

    def _parse(self, parse: Callable[[Any, int], Turn], response: Any, retries: int) -> Turn:
        """Run ``parse`` on a response; a response that is not the expected shape is a ToolError."""
        try:
            return parse(response, retries)
        except ToolError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise ToolError(
                "llm_bad_response",
                f"{self.name}: the answer from {self.base_url or 'the API'} is not the expected shape "
                f"({type(exc).__name__}: {short(str(exc), 160)})",
                "check that the server speaks this API (for --base-url: the OpenAI Chat Completions API with tools)",
            ) from None

    @abstractmethod
    def complete(
        self,
        messages: Sequence[UserMessage | AssistantMessage | ToolResultMessage],
        tools: Sequence[Tool] = (),
        *,
        system: str | SystemPrompt = "",
        max_tokens: int = 4096,
        on_text: Callable[[str], None] | None = None,
    ) -> Turn:
        """Send the history, the tool definitions and the system prompt; return the model's next turn.

        With ``on_text``, the answer is streamed and each piece of text is passed to it as it arrives
        (the returned Turn still holds the whole text). A request is retried only while nothing has
        been streamed; a connection lost mid-answer is a ToolError (``llm_stream_interrupted``).
        """

    # Shared by the SDK backends ------------------------------------------------------------------

    def _with_retries(
        self,
        send: Callable[[], T],
        errors: tuple[type[Exception], ...],
        classify: Callable[[Exception], tuple[bool, float | None]],
        fail: Callable[[Exception, int], ToolError],
    ) -> tuple[T, int]:
        """Call ``send`` until it succeeds or a failure is not retryable / retries run out.

        Only ``errors`` (the SDK's own exception base) are handled; anything else is a bug and
        propagates. ``classify(exc)`` says whether ``exc`` is transient and how long the server asked
        to wait; ``fail(exc, retries)`` turns the last failure into a ToolError. Returns the result and
        the retry count.
        """
        attempt = 0
        while True:
            try:
                return send(), attempt
            except errors as exc:
                transient, wait = classify(exc)
                too_long = wait is not None and wait > self.retry.max_retry_after  # e.g. a daily quota
                if not transient or too_long or attempt >= self.retry.max_retries:
                    raise fail(exc, attempt) from None
                self.retry.sleep(self.retry.delay(attempt, wait))
                attempt += 1
