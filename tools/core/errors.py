"""The one error type every tool raises for bad input, a missing setup or a failure outside our control.

Its code's category (:mod:`tools.core.error_codes`) says which: the CLI prints it without a traceback and
exits with the category's code (2 input or setup, 1 problem found, 3 external or internal); the agent
returns it as an error tool result, MCP as ``isError``.
"""

from __future__ import annotations

from pydantic import BaseModel

from tools.core.error_codes import Category, category_of
from tools.core.scrub import scrub


class ToolErrorInfo(BaseModel):
    """The serialisable form of a ToolError (what an agent or MCP client sees)."""

    code: str
    category: Category
    message: str
    hint: str | None = None


class ToolError(Exception):
    """A failure the caller can act on: a stable ``code``, what went wrong, and how to fix it.

    ``message`` names the file and line where there is one; ``hint`` says what to do.
    Neither may contain raw PII or secrets: both pass through :func:`tools.core.scrub.scrub`, which removes
    every known key value and key-shaped string (a provider's error text may echo the key).
    """

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        message = scrub(message)
        hint = scrub(hint) if hint else hint
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    @property
    def category(self) -> Category:
        return category_of(self.code)

    def info(self) -> ToolErrorInfo:
        return ToolErrorInfo(code=self.code, category=self.category, message=self.message, hint=self.hint)

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message
