"""Checks every JSON-RPC frame before the MCP SDK sees it, so every malformed one gets an error back.

The SDK's stdio transport drops a frame it cannot validate without a word, and a huge or deeply nested
one can stall or crash a handler. :func:`frame_problem` decides, per line, whether the frame is fit to
pass; when it is not, the server answers with the standard code: -32700 (not JSON), -32600 (not a valid
request, or too large or too deep to read safely) or -32602 (a request whose parameters cannot be read),
echoing the request id when one can be found.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from pydantic import ValidationError

from tools.core.json_input import MAX_DEPTH, nesting_depth

MAX_FRAME_CHARS = 16 << 20
"""A frame longer than this is refused unparsed (the largest real tool call is a few KB)."""

_ID = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,18})')


@dataclass(frozen=True)
class FrameProblem:
    code: int
    message: str
    request_id: str | int | None

    def response(self) -> types.JSONRPCError:
        return types.JSONRPCError(
            jsonrpc="2.0", id=self.request_id, error=types.ErrorData(code=self.code, message=self.message)
        )


def _guess_id(text: str) -> str | int | None:
    match = _ID.search(text[:4096])
    if not match:
        return None
    try:
        value: Any = json.loads(match.group(1))
    except ValueError:
        return None
    return value if isinstance(value, (str, int)) else None


def frame_problem(line: str) -> FrameProblem | None:
    """Why ``line`` may not reach the SDK, or None when it is a readable JSON-RPC message."""
    if len(line) > MAX_FRAME_CHARS:
        return FrameProblem(types.INVALID_REQUEST, f"frame larger than {MAX_FRAME_CHARS:,} characters", None)
    if nesting_depth(line) > MAX_DEPTH:
        return FrameProblem(types.INVALID_REQUEST, f"frame nested more than {MAX_DEPTH} levels deep", _guess_id(line))
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return FrameProblem(types.PARSE_ERROR, f"parse error: {exc.msg} at column {exc.colno}", None)
    except (ValueError, RecursionError):
        request_id = _guess_id(line)
        code = types.INVALID_PARAMS if request_id is not None else types.INVALID_REQUEST
        return FrameProblem(code, "a number in the frame is too long to read (more than 4,300 digits)", request_id)
    if not isinstance(value, dict):
        return FrameProblem(types.INVALID_REQUEST, "a JSON-RPC message is one JSON object", None)
    raw_id = value.get("id")
    request_id = raw_id if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
    if "id" in value and raw_id is not None and request_id is None:
        return FrameProblem(types.INVALID_REQUEST, "a request id is a string or a number", None)
    try:
        types.jsonrpc_message_adapter.validate_python(value, by_name=False)
    except ValidationError:
        return FrameProblem(types.INVALID_REQUEST, "not a valid JSON-RPC 2.0 message", request_id)
    return None
