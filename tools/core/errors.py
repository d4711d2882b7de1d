"""The one error type every tool raises for bad input or a failed precondition.

Surfaces turn it into their own shape: the CLI prints it without a traceback and exits 2,
the agent returns it as an error tool result, MCP as ``isError``.
"""

from __future__ import annotations

from pydantic import BaseModel


class ToolErrorInfo(BaseModel):
    """The serialisable form of a ToolError (what an agent or MCP client sees)."""

    code: str
    message: str
    hint: str | None = None


class ToolError(Exception):
    """A failure the caller can act on: a stable ``code``, what went wrong, and how to fix it.

    ``message`` names the file and line where there is one; ``hint`` says what to do.
    Neither may contain raw PII or secrets.
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def info(self) -> ToolErrorInfo:
        return ToolErrorInfo(code=self.code, message=self.message, hint=self.hint)

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message
