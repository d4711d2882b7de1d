"""Retries, failures and keys for the SDK backends: the parts that are about HTTP, not about turns.

:class:`RetryPolicy` is the backoff the backends use (the SDKs' own retries are off so retries can be
counted and their timing injected in tests); :func:`sdk_failure` turns the last SDK exception into a
:class:`tools.core.errors.ToolError` a person can act on; keys come from the environment only.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from tools.core.errors import ToolError

# --------------------------------------------------------------------------------------------------
# Retries


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter for rate limits (429), server errors (5xx, 408, 409) and
    dropped connections. A server's ``retry-after`` / ``retry-after-ms`` is honoured up to
    ``max_retry_after`` seconds; a longer requested wait ends the retries at once (waiting an hour
    inside a chat helps nobody). ``sleep`` is injectable so tests wait for nothing."""

    max_retries: int = 4
    initial_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and 0 < retry_after <= self.max_retry_after:
            return retry_after
        base = min(self.initial_delay * (2.0**attempt), self.max_delay)
        return base * (1.0 - self.jitter * random.random())


RETRYABLE_STATUS = frozenset({408, 409, 429})


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a server asked for in ``retry-after-ms`` or ``retry-after`` (seconds form only)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except (TypeError, ValueError):
            continue
    return None


def is_retryable_status(status: int, headers: Any = None) -> bool:
    should = headers.get("x-should-retry") if headers is not None else None
    if should == "true":
        return True
    if should == "false":
        return False
    return status in RETRYABLE_STATUS or status >= 500


# --------------------------------------------------------------------------------------------------
# Failures and keys


class StreamGuard:
    """Tracks whether any text reached ``on_text``: after that, a failed request cannot be retried
    without showing the person the same text twice."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self.on_text = on_text
        self.emitted = False

    def __call__(self, text: str) -> None:
        if text and self.on_text is not None:
            self.emitted = True
            self.on_text(text)


def interrupted(provider: str, endpoint: str, exc: Exception) -> ToolError:
    return ToolError(
        "llm_stream_interrupted",
        f"the answer from {provider} at {endpoint} stopped midway ({type(exc).__name__}: {short(str(exc), 160)})",
        "ask again; the partial answer above is incomplete",
    )


def transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP libraries' transport errors (a connection lost while a stream is read surfaces as
    one of these, not as the SDK's APIConnectionError)."""
    found: list[type[Exception]] = []
    for module in ("httpx2", "httpx"):
        try:
            found.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def classify_sdk_error(
    exc: Exception, status_error: type[Exception], connection_error: type[Exception]
) -> tuple[bool, float | None]:
    """(transient?, server-requested wait) for an exception of the anthropic or openai SDK."""
    if isinstance(exc, (connection_error, *transport_errors())):
        return True, None
    if isinstance(exc, status_error):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return is_retryable_status(int(getattr(exc, "status_code", 0)), headers), retry_after_seconds(headers)
    return False, None


def sdk_failure(
    exc: Exception,
    retries: int,
    *,
    provider: str,
    model: str,
    endpoint: str,
    key_env: str,
    custom_endpoint: bool,
    status_error: type[Exception],
    connection_error: type[Exception],
    known: Sequence[str] = (),
) -> ToolError:
    """Turn the last SDK exception into a ToolError a person can act on (never echoes the key)."""
    tried = f" (tried {retries + 1} times)" if retries else ""
    if isinstance(exc, (connection_error, *transport_errors())):
        kind = "timed out" if "timeout" in type(exc).__name__.lower() else "connection failed"
        hint = (
            "check that the server is running and the URL (including /v1) is right"
            if custom_endpoint
            else "check your network connection or proxy settings, then try again"
        )
        return ToolError("llm_unreachable", f"cannot reach {provider} at {endpoint}: {kind}{tried}", hint)
    if isinstance(exc, status_error):
        status = int(getattr(exc, "status_code", 0))
        detail = short(getattr(exc, "message", "") or str(exc))
        if status == 401:
            if custom_endpoint:
                return ToolError(
                    "llm_auth",
                    f"the server at {endpoint} refused the key in {key_env} (401)",
                    f"export {key_env}=<the key that server expects>",
                )
            return ToolError(
                "llm_auth",
                f"{provider} rejected the API key in {key_env} (401)",
                f"check {key_env}; create a key in your {provider} console",
            )
        if status == 403:
            return ToolError(
                "llm_forbidden",
                f"{provider} refused the request (403): {detail}",
                "check that the key's account or project may use this model",
            )
        if status == 404:
            hint = (
                f"pass a model the server at {endpoint} serves (and check the URL ends with /v1)"
                if custom_endpoint
                else f"known {provider} models: {', '.join(known)}"
            )
            return ToolError("llm_unknown_model", f"{provider} does not know model {model!r} (404): {detail}", hint)
        if status == 429:
            return ToolError(
                "llm_rate_limited",
                f"{provider} is rate limiting this key{tried}: {detail}",
                "wait a minute and try again, or raise the account's rate limits",
            )
        if status >= 500 or status in RETRYABLE_STATUS:
            return ToolError(
                "llm_server_error",
                f"{provider} answered {status}{tried}: {detail}",
                "the service is having trouble; try again in a few minutes",
            )
        return ToolError(
            "llm_bad_request",
            f"{provider} rejected the request ({status}): {detail}",
            "this is likely a bug in finetune-skill; please report it with the message above",
        )
    if isinstance(exc, ValueError):  # json.JSONDecodeError: not an API at that URL
        return ToolError(
            "llm_bad_response",
            f"{endpoint} answered with something that is not the {provider} API ({short(str(exc), 120)})",
            "check the URL and that the server speaks this API",
        )
    return ToolError(
        "llm_failed",
        f"{provider} request failed: {type(exc).__name__}: {short(str(exc))}",
        "try again; if it persists, report it",
    )


def require_model(model: str | None, backend: str) -> str:
    if model is None or not model.strip():
        raise ToolError(
            "llm_unknown_model",
            f"no model named for the {backend} backend",
            "pass --model NAME (the model id your server lists)",
        )
    return model.strip()


def short(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def env_key(name: str) -> str | None:
    """An API key from the environment (the only place keys are read from); blank counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or None


SERVER_KEY_ENV = "FINETUNE_SERVER_API_KEY"
"""The key a --base-url server expects (vLLM --api-key, a proxy), if any: never a provider's own key."""


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlparse(a.rstrip("/")), urlparse(b.rstrip("/"))
    return (pa.scheme, pa.hostname, pa.port, pa.path) == (pb.scheme, pb.hostname, pb.port, pb.path)


def key_route(provider_key_env: str, base_url_env: str, official_host: str, base_url: str | None) -> tuple[str, bool]:
    """Which environment variable's key may go to ``base_url``, and whether that is the provider's own.

    A provider's key goes only to its official host, or to a base URL the person configured for that key
    in the environment (``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``, the variables the SDKs read). Any other
    server (an argument a model can write) gets ``FINETUNE_SERVER_API_KEY`` or no key at all.
    """
    if base_url is None or urlparse(base_url).hostname == official_host:
        return provider_key_env, True
    configured = os.environ.get(base_url_env, "").strip()
    if configured and _same_url(configured, base_url):
        return provider_key_env, True
    return SERVER_KEY_ENV, False


def missing_key(name: str, provider: str) -> ToolError:
    return ToolError(
        "llm_missing_key",
        f"{name} is not set, so the {provider} backend cannot run",
        f"export {name}=... in your shell (it is read from the environment only and never "
        "stored), or run with --backend guide, which needs no key",
    )


def check_url(base_url: str) -> None:
    """Refuse a --base-url that is not an http(s) URL before any request is made."""
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ToolError(
            "llm_bad_base_url",
            f"--base-url {base_url!r} is not an http(s) URL",
            "give the server's OpenAI-compatible root, e.g. http://localhost:8000/v1 (vLLM) "
            "or http://localhost:11434/v1 (Ollama)",
        )
