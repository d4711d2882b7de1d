"""Tools defined for the registry, agent and audit tests: real tools, registered the normal way.

They are registered only while a test uses the ``test_tools`` fixture (tests/conftest.py), and removed
after it, so no other test ever sees them in a listing.
"""

from __future__ import annotations

from pydantic import BaseModel, StrictBool

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.fields import InputPath, OutputPath, Secret
from tools.core.workspace import current, sha256_file, write_text_atomic


class CopyUpperRequest(BaseModel):
    source: InputPath
    target: OutputPath
    api_key: Secret | None = None
    fail_with: str | None = None


class CopyUpperResult(BaseModel):
    target: str
    sha256: str


def copy_upper(req: CopyUpperRequest) -> CopyUpperResult:
    """Test tool: writes an upper-cased copy of a file; can be told to fail for error-path tests."""
    ws = current()
    src = ws.input_file(req.source)
    dst = ws.output_file(req.target, inputs=(src,))
    if req.fail_with == "tool_error":
        raise ToolError("planned_failure", f"{req.source}: planned failure", "do not ask for it")
    if req.fail_with == "crash":
        raise RuntimeError("secret-canary-" + (req.api_key or ""))
    write_text_atomic(dst, src.read_text("utf-8").upper())
    return CopyUpperResult(target=ws.relative(dst), sha256=sha256_file(dst))


class PretendSpendRequest(BaseModel):
    label: str
    confirm: StrictBool = False


class PretendSpendResult(BaseModel):
    spent: bool
    would_cost_usd: float


def pretend_spend(req: PretendSpendRequest) -> PretendSpendResult:
    """Test tool: stands for an upload or a paid job; writes spent-<label>.txt only with confirm=true."""
    if not req.confirm:
        return PretendSpendResult(spent=False, would_cost_usd=12.5)
    write_text_atomic(current().root / f"spent-{req.label}.txt", "spent\n")
    return PretendSpendResult(spent=True, would_cost_usd=12.5)


class BigRequest(BaseModel):
    size: int


class BigResult(BaseModel):
    blob: str


def big_output(req: BigRequest) -> BigResult:
    """Test tool: returns a result of the size asked for, to exercise output bounds."""
    return BigResult(blob="x" * req.size)


class Source(BaseModel):
    path: InputPath
    note: str | None = None


class MergeRequest(BaseModel):
    sources: list[Source]
    target: OutputPath


class MergeResult(BaseModel):
    lines: int


def merge_files(req: MergeRequest) -> MergeResult:
    """Test tool: concatenates files named inside nested models, for the audit of nested paths."""
    ws = current()
    text = "".join(ws.input_file(s.path).read_text("utf-8") for s in req.sources)
    write_text_atomic(ws.output_file(req.target), text)
    return MergeResult(lines=text.count("\n"))


DECLARATIONS: dict[str, dict[str, object]] = {
    "copy_upper": {"effect": "write", "stage": "data"},
    "pretend_spend": {"effect": "spend", "stage": "train"},
    "big_output": {"effect": "read", "stage": "reference"},
    "merge_files": {"effect": "write", "stage": "data"},
}


def register() -> list[str]:
    """Register every test tool; returns their names (the fixture unregisters them)."""
    for name, declared in DECLARATIONS.items():
        registry.tool(**declared)(globals()[name])  # type: ignore[arg-type]
    return list(DECLARATIONS)
