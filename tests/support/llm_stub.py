"""A local HTTP server that answers like the Anthropic Messages API and OpenAI Chat Completions.

Point the real SDK clients at ``stub.url`` (Anthropic) or ``stub.url + "/v1"`` (OpenAI): the server
records every request body and plays back scripted replies in order, each a recorded wire-format
response (see the ``anthropic_*`` / ``openai_*`` builders), an error with headers, or a dropped
connection. Nothing leaves 127.0.0.1.

    with LLMStub() as stub:
        stub.reply(anthropic_message([tool_use_block("toolu_1", "count_rows", {"path": "a.jsonl"})]))
        backend = AnthropicBackend("claude-sonnet-5-5", base_url=stub.url, retry=FAST_RETRY)
        ...
        stub.requests[0].body["tools"][-1]["cache_control"]
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel

from tools.core.registry import Tool
from tools.llm.transport import RetryPolicy

# ----------------------------------------------------------------------------------------------
# The server


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    events: list[str] | None = None  # server-sent events, sent chunked
    cut_after: int | None = None  # send this many events, then hang up mid-body


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class LLMStub:
    """Scripted replies over real HTTP on 127.0.0.1 (a random free port), one per request."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                with stub._lock:
                    stub.requests.append(
                        Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    reply = (
                        stub.replies.popleft()
                        if stub.replies
                        else Reply(
                            418,
                            {"error": {"message": "stub: no scripted reply left", "type": "stub"}},
                            {"x-should-retry": "false"},
                        )
                    )
                if reply.drop:
                    # Read the request, then hang up without a byte of response.
                    self.close_connection = True
                    return
                if reply.events is not None:
                    self._stream(reply)
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.send_header("cache-control", "no-cache")
                self.end_headers()
                events = reply.events or []
                for n, event in enumerate(events):
                    if reply.cut_after is not None and n >= reply.cut_after:
                        self.wfile.flush()
                        self.close_connection = True  # no terminating chunk: an incomplete body
                        return
                    data = event.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> LLMStub:
        self.replies.append(Reply(status, body, headers or {}))
        return self

    def stream(self, events: list[str], cut_after: int | None = None) -> LLMStub:
        """The next request gets these server-sent events (see ``anthropic_sse`` / ``openai_sse``)."""
        self.replies.append(Reply(events=events, cut_after=cut_after))
        return self

    def drop(self) -> LLMStub:
        """The next request gets its connection closed with no response."""
        self.replies.append(Reply(drop=True))
        return self

    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def start(self) -> LLMStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LLMStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SleepLog:
    """An injectable ``sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_retry(max_retries: int = 3) -> tuple[RetryPolicy, SleepLog]:
    log = SleepLog()
    return RetryPolicy(max_retries=max_retries, initial_delay=0.01, max_delay=0.05, sleep=log), log


# ----------------------------------------------------------------------------------------------
# Tools to send (real Tool specs, not registered in the shipped registry)


class CountRowsRequest(BaseModel):
    path: str
    limit: int | None = None


class CountRowsResult(BaseModel):
    rows: int


def count_rows(req: CountRowsRequest) -> CountRowsResult:
    return CountRowsResult(rows=3)


class QuoteRequest(BaseModel):
    provider: str
    confirm: bool = False


class QuoteResult(BaseModel):
    usd: float


def quote_job(req: QuoteRequest) -> QuoteResult:
    return QuoteResult(usd=1.0)


TOOLS = [
    Tool(
        name="count_rows",
        func=count_rows,
        input_model=CountRowsRequest,
        output_model=CountRowsResult,
        effect="read",
        duration="seconds",
        stage="data",
        destructive=False,
        description="Counts the rows of a JSONL file. Use it before splitting a dataset.",
    ),
    Tool(
        name="quote_job",
        func=quote_job,
        input_model=QuoteRequest,
        output_model=QuoteResult,
        effect="spend",
        duration="minutes",
        stage="train",
        destructive=False,
        description="Starts a paid fine-tuning job at a provider.",
    ),
]

# ----------------------------------------------------------------------------------------------
# Recorded wire-format responses (shapes as the APIs send them, ids and numbers made up)


def anthropic_usage(
    input_tokens: int = 20, output_tokens: int = 30, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
        "server_tool_use": None,
    }


def anthropic_message(
    content: list[dict[str, Any]],
    stop_reason: str = "end_turn",
    *,
    model: str = "claude-sonnet-5-5",
    usage: dict[str, Any] | None = None,
    msg_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or anthropic_usage(),
    }


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "citations": None}


def tool_use_block(block_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": name, "input": arguments}


SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def thinking_block(thinking: str, signature: str = SIGNATURE) -> dict[str, Any]:
    return {"type": "thinking", "thinking": thinking, "signature": signature}


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def openai_usage(prompt: int = 120, completion: int = 25, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def openai_tool_call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def openai_completion(
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    *,
    model: str = "gpt-5.4-2026-03-05",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-CJ0zSOqkNwQX7XcsAXWW1JoVVQJnE",
        "object": "chat.completion",
        "created": 1795000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": usage or openai_usage(),
        "service_tier": "default",
        "system_fingerprint": None,
    }


def openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# ----------------------------------------------------------------------------------------------
# Streams: a recorded response replayed as the server-sent events each API streams


def _sse(event: str | None, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def anthropic_sse(message: dict[str, Any], pieces: int = 3) -> list[str]:
    """A Messages API response as its stream: message_start, one content block at a time (text in
    ``pieces`` deltas, tool input as partial JSON), message_delta with the final usage, message_stop."""
    usage = dict(message["usage"])
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [_sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                _sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                )
            )
            text = block["text"]
            size = max(1, -(-len(text) // pieces))
            for i in range(0, len(text), size):
                events.append(
                    _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": text[i : i + size]},
                        },
                    )
                )
        elif block["type"] == "tool_use":
            events.append(
                _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                    },
                )
            )
            raw = json.dumps(block["input"])
            half = len(raw) // 2
            for part in (raw[:half], raw[half:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                events.append(
                    _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
        elif block["type"] == "thinking":
            events.append(
                _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
            )
            events.append(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                    },
                )
            )
            events.append(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "signature_delta", "signature": block["signature"]},
                    },
                )
            )
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {
                    "output_tokens": usage["output_tokens"],
                    "input_tokens": usage["input_tokens"],
                    "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                },
            },
        )
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


def openai_sse(completion: dict[str, Any], pieces: int = 3) -> list[str]:
    """A Chat Completions response as its stream: role chunk, content deltas, tool call deltas
    (arguments split in two), the finish chunk, a usage-only chunk (include_usage) and [DONE]."""
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": None,
        "service_tier": "default",
    }
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _sse(
            None,
            {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                "usage": None,
            },
        )

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    text = message.get("content") or ""
    if text:
        size = max(1, -(-len(text) // pieces))
        events += [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]
    for index, call in enumerate(message.get("tool_calls") or []):
        raw = call["function"]["arguments"]
        half = len(raw) // 2
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for part in (raw[:half], raw[half:]):
            events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
    events.append(chunk({}, choice["finish_reason"]))
    events.append(_sse(None, {**base, "choices": [], "usage": completion["usage"]}))
    events.append(_sse(None, "[DONE]"))
    return events
