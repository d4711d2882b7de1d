"""Every tool, with its metadata, and the one path through which surfaces call them.

A tool module decorates its function with :func:`tool`, declaring its effect, duration, stage and
whether it is destructive; the decorator reads the input and output models from the type hints and the
description from the docstring. Modules are found by scanning the ``tools`` packages for ``@tool(``
(and an entry-point group for other distributions): there is no list of tools to keep in step. :func:`call`
validates the
arguments, runs the tool inside its workspace, turns any failure into a :class:`ToolError`, and
appends an audit record. Surfaces (CLI, agent, MCP) use :func:`all_tools`, :func:`get` and
:func:`call`, never the tool modules.

Tool modules keep heavy imports (torch, presidio, transformers) inside their functions so that
loading the registry stays fast.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import sys
import time
import traceback
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tools.core.audit_log import AuditLog, FileDigest, canonical_json
from tools.core.errors import ToolError
from tools.core.extras import missing_extra
from tools.core.fields import path_fields, secret_fields
from tools.core.scrub import scrub
from tools.core.workspace import STATE_DIR, Workspace, sha256_file, using, write_text_atomic

Effect = Literal["read", "write", "spend"]
Duration = Literal["seconds", "minutes"]
Stage = Literal[
    "decide",
    "data",
    "pii",
    "provider",
    "cost",
    "configure",
    "train",
    "evaluate",
    "diagnose",
    "export",
    "migrate",
    "audit",
    "reference",
]

EFFECTS: dict[str, str] = {
    "read": "reads files, changes nothing",
    "write": "writes new files in the workspace (or starts local work)",
    "spend": "costs money or sends data to a third party",
}

DURATIONS: dict[str, str] = {
    "seconds": "answers in seconds",
    "minutes": "runs for minutes (training, evaluation): returns an id to poll, or reports progress",
}

STAGES: tuple[str, ...] = typing.get_args(Stage)
"""The workflow order. Every surface lists tools by stage in this order; ``prompts/steps.yaml`` holds the
prose of each stage the guide walks (``audit`` and ``reference`` are used at any time)."""

ENTRY_POINT_GROUP = "finetune_skill.tools"
"""Other distributions add tools by naming, in this entry-point group, a module that defines them."""

_TOOL_DECORATOR = re.compile(rb"^@tool\(", re.M)


@dataclass(frozen=True)
class Tool:
    """A registered tool and what it declares about itself."""

    name: str
    func: Callable[[Any], BaseModel]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    effect: Effect
    duration: Duration
    stage: Stage
    destructive: bool
    description: str
    audited: bool = True

    @property
    def module(self) -> str:
        return self.func.__module__

    @property
    def has_confirm(self) -> bool:
        return "confirm" in self.input_model.model_fields

    @property
    def gated(self) -> bool:
        """True when a call can cost money, send data out or start long work: it needs the person's yes.

        A tool with a ``confirm`` argument does only a dry run without ``confirm=true``; a spend tool
        without one needs the yes for every call."""
        return self.has_confirm or self.effect == "spend"

    @property
    def summary(self) -> str:
        """The first sentence of the description, for listings."""
        first = self.description.split(". ")[0].rstrip(".")
        return first + "."


_TOOLS: dict[str, Tool] = {}


def _first_paragraph(doc: str | None, name: str) -> str:
    if not doc or not doc.strip():
        raise TypeError(f"tool {name} needs a docstring: its first paragraph is what agents see")
    paragraph = inspect.cleandoc(doc).split("\n\n")[0]
    return " ".join(paragraph.split())


def tool(
    *,
    effect: Effect,
    stage: Stage,
    duration: Duration = "seconds",
    destructive: bool = False,
    audited: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``func(req: InputModel) -> OutputModel`` as a tool named after the function.

    ``effect``: what it touches (read / write / spend). ``duration``: seconds or minutes.
    ``stage``: where it sits in the workflow. ``destructive``: it can end or overwrite something that
    exists (a running process, a file a person made). Every surface derives its listing, MCP hints,
    confirmation rules and audit sections from these.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if stage not in STAGES:
            raise TypeError(f"tool {func.__name__}: unknown stage {stage!r}; one of {', '.join(STAGES)}")
        hints = typing.get_type_hints(func)
        params = [p for p in inspect.signature(func).parameters]
        if len(params) != 1:
            raise TypeError(f"tool {func.__name__} must take exactly one argument (its input model)")
        input_model = hints.get(params[0])
        output_model = hints.get("return")
        for label, model in (("input", input_model), ("output", output_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"tool {func.__name__}: the {label} type must be a pydantic model")
        assert input_model is not None and output_model is not None
        _check_confirm_is_strict(func.__name__, input_model)
        spec = Tool(
            name=func.__name__,
            func=func,
            input_model=input_model,
            output_model=output_model,
            effect=effect,
            duration=duration,
            stage=stage,
            destructive=destructive,
            description=_first_paragraph(func.__doc__, func.__name__),
            audited=audited,
        )
        existing = _TOOLS.get(spec.name)
        if existing is not None and existing.func.__module__ != func.__module__:
            raise TypeError(f"tool name {spec.name} registered twice ({existing.func.__module__}, {func.__module__})")
        _TOOLS[spec.name] = spec
        return func

    return register


def _check_confirm_is_strict(name: str, model: type[BaseModel]) -> None:
    """A ``confirm`` field must be a strict boolean: "true", 1 or "yes" may never count as the person's yes."""
    field = model.model_fields.get("confirm")
    if field is None:
        return
    strict = any(getattr(m, "strict", False) for m in field.metadata)
    if field.annotation is not bool or not strict:
        raise TypeError(f"tool {name}: its confirm field must be declared `confirm: StrictBool`")


def unregister(name: str) -> None:
    """Remove a tool (tests register their own and take them away afterwards)."""
    _TOOLS.pop(name, None)


@cache
def tool_modules() -> tuple[str, ...]:
    """Every module that defines a tool: the ``tools`` packages scanned for ``@tool(``, then entry points.

    Scanning the source (not importing every module) keeps start-up fast and lets a module with an
    optional dependency exist without being imported until it is needed.
    """
    root = Path(__file__).resolve().parent.parent
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        if "_bundle" in rel.parts or "__pycache__" in rel.parts:
            continue
        try:
            source = path.read_bytes()
        except OSError:
            continue
        if _TOOL_DECORATOR.search(source):
            found.append(".".join(rel.with_suffix("").parts))
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.value not in found:
            found.append(entry.value)
    return tuple(found)


def _load() -> None:
    for module in tool_modules():
        if module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ToolError(
                "registry_broken",
                f"tool module {module} cannot be imported ({type(exc).__name__}: {exc})",
                "reinstall finetune-skill; a tool module may import only the base dependencies at the top "
                "(optional ones inside the function, through tools.core.extras.require)",
            ) from exc


def all_tools() -> list[Tool]:
    """Every registered tool, in workflow order (stage, then module, then definition)."""
    _load()
    rank = {stage: i for i, stage in enumerate(STAGES)}
    return sorted(_TOOLS.values(), key=lambda t: (rank[t.stage], t.module))


def get(name: str) -> Tool:
    _load()
    try:
        return _TOOLS[name]
    except KeyError:
        known = ", ".join(sorted(_TOOLS))
        raise ToolError("unknown_tool", f"no tool named {name!r}", f"known tools: {known}") from None


def by_stage(*stages: str) -> list[Tool]:
    """The registered tools of the given stages, in workflow order."""
    return [t for t in all_tools() if t.stage in stages]


def format_validation_error(exc: ValidationError, tool_name: str) -> str:
    """Field-by-field message without echoing input values (they may hold secrets or PII)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        parts.append(f"{where}: {err['msg']}")
    return f"invalid arguments for {tool_name}: " + "; ".join(parts)


def apply_defaults(model: type[BaseModel], args: Mapping[str, Any]) -> dict[str, Any]:
    """Drop top-level nulls for fields whose default is not null, so pydantic applies the default.

    Portable tool schemas make every optional field nullable; a model that sends ``null`` means
    "use the default".
    """
    cleaned = dict(args)
    for name, info in model.model_fields.items():
        if name in cleaned and cleaned[name] is None and not info.is_required() and info.default is not None:
            del cleaned[name]
    return cleaned


def validate(spec: Tool, args: Mapping[str, Any] | BaseModel | None) -> BaseModel:
    """The tool's input model built from ``args`` (pydantic's coercions applied), or ``invalid_arguments``.

    Decisions about a call (the confirmation gate above all) are taken on this validated model, never on
    the raw arguments: what is approved is exactly what runs.
    """
    if isinstance(args, spec.input_model):
        return args
    if isinstance(args, BaseModel):
        args = args.model_dump()
    try:
        return spec.input_model.model_validate(apply_defaults(spec.input_model, args or {}))
    except ValidationError as exc:
        raise ToolError(
            "invalid_arguments",
            format_validation_error(exc, spec.name),
            f"see the schema with `finetune tools --schema {spec.name}`",
        ) from None


def _file_digest(ws: Workspace, arg: str, role: str, raw: str) -> dict[str, Any]:
    try:
        path = ws.resolve(raw)
    except ToolError:
        return {"arg": arg, "role": role, "path": raw, "sha256": None, "bytes": None}
    rel = ws.relative(path)
    if path.is_file():
        return {"arg": arg, "role": role, "path": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    return {"arg": arg, "role": role, "path": rel, "sha256": None, "bytes": None}


def _file_args(ws: Workspace, req: BaseModel, role: str, prefix: str = "") -> list[dict[str, Any]]:
    """Digests of the path arguments with ``role``, nested models included (``candidate.adapter``)."""
    out: list[dict[str, Any]] = []
    roles = path_fields(type(req))
    for name in type(req).model_fields:
        value = getattr(req, name)
        values = value if isinstance(value, list) else [value]
        if roles.get(name) == role:
            out.extend(_file_digest(ws, prefix + name, role, v) for v in values if isinstance(v, str) and v)
        for nested in values:
            if isinstance(nested, BaseModel):
                out.extend(_file_args(ws, nested, role, f"{prefix}{name}."))
    return out


def args_digest(req: BaseModel) -> tuple[str, list[str]]:
    """SHA-256 of the canonical arguments (secrets blanked) and the names of those given."""
    data = req.model_dump(mode="json")
    for name in secret_fields(type(req)):
        if data.get(name) is not None:
            data[name] = "[secret]"
    given = [k for k, v in data.items() if v is not None]
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest(), given


def _internal(ws: Workspace, name: str, exc: BaseException) -> ToolError:
    where = _crash_report(ws, name, exc)
    return ToolError(
        "internal_error",
        f"{name} failed unexpectedly ({type(exc).__name__})",
        f"this is a bug in finetune-skill; the traceback is in {where}"
        if where
        else "this is a bug in finetune-skill; rerun with FINETUNE_DEBUG=1 to see the traceback",
    )


def _crash_report(ws: Workspace, name: str, exc: BaseException) -> str | None:
    """Keep the traceback of an unexpected failure in the workspace, never in the error text."""
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = ws.state_dir / "crashes" / f"{stamp}-{name}.txt"
        write_text_atomic(path, scrub("".join(traceback.format_exception(exc))))
        return ws.relative(path)
    except OSError:
        return None


def call(
    name: str,
    args: Mapping[str, Any] | BaseModel | None = None,
    *,
    workspace: Workspace | None = None,
    actor: str = "api",
) -> BaseModel:
    """Validate ``args``, run tool ``name`` in ``workspace``, audit the call, return its output.

    Every failure comes out as a :class:`ToolError`: bad arguments as ``invalid_arguments``, a
    tool's own refusal with its code, anything unexpected as ``internal_error`` (traceback kept
    in ``.finetune/crashes/``).
    """
    ws = workspace or Workspace()
    try:
        spec = get(name)
    except ToolError as error:
        _audit_refused(ws, name, error.code, actor)
        raise
    try:
        req = validate(spec, args)
    except ToolError as error:
        if spec.audited:
            _audit(ws, spec, None, [], "error", error.code, 0, actor)
        raise

    inputs = _file_args(ws, req, "input") if spec.audited else []
    started = time.perf_counter()
    outcome: Literal["ok", "error"] = "ok"
    error_code: str | None = None
    try:
        with using(ws):
            result = spec.func(req)
        if not isinstance(result, spec.output_model):
            raise TypeError(f"{name} returned {type(result).__name__}, not {spec.output_model.__name__}")
        return result
    except ToolError as exc:
        outcome, error_code = "error", exc.code
        raise
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc, name)
        if missing is None:
            outcome, error_code = "error", "internal_error"
            raise _internal(ws, name, exc) from exc
        outcome, error_code = "error", missing.code
        raise missing from None
    except Exception as exc:
        outcome, error_code = "error", "internal_error"
        raise _internal(ws, name, exc) from exc
    finally:
        if spec.audited:
            duration = int((time.perf_counter() - started) * 1000)
            outputs = _file_args(ws, req, "output") if outcome == "ok" else []
            _audit(ws, spec, req, inputs + outputs, outcome, error_code, duration, actor)


def _audit_refused(ws: Workspace, name: object, code: str, actor: str) -> None:
    """Record a call refused before any tool ran (an unknown name), so no attempt goes unrecorded."""
    shown = re.sub(r"[^A-Za-z0-9_.-]", "?", scrub(str(name)))[:80] or "?"
    try:
        AuditLog(ws).append(
            tool_name=shown, actor=actor, args_sha256=hashlib.sha256(b"refused").hexdigest(), args_given=[],
            files=[], outcome="error", error_code=code, duration_ms=0,
        )  # fmt: skip
    except (OSError, ToolError):
        pass  # the refusal itself is reported to the caller; a broken log is reported by its own check


def _audit(
    ws: Workspace,
    spec: Tool,
    req: BaseModel | None,
    files: list[dict[str, Any]],
    outcome: Literal["ok", "error"],
    error_code: str | None,
    duration_ms: int,
    actor: str,
) -> None:
    digest, given = args_digest(req) if req is not None else (hashlib.sha256(b"invalid").hexdigest(), [])
    try:
        AuditLog(ws).append(
            tool_name=spec.name,
            actor=actor,
            args_sha256=digest,
            args_given=given,
            files=[FileDigest.model_validate(f) for f in files],
            outcome=outcome,
            error_code=error_code,
            duration_ms=duration_ms,
        )
    except OSError as exc:
        raise ToolError(
            "audit_unwritable",
            f"could not append to the audit log in {ws.state_dir}: {exc.strerror}",
            f"make {STATE_DIR}/ writable; every tool call must be recorded",
        ) from exc
