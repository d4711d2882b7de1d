"""Annotated field types that tool input models use for arguments needing special care.

The markers live in pydantic field metadata, so they never show in JSON schemas; the registry
reads them to resolve paths through the workspace policy and to keep secrets and file contents
out of the audit log (files are recorded by SHA-256 of their bytes, secrets not at all).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class PathRole:
    role: Literal["input", "output"]


@dataclass(frozen=True)
class SecretMarker:
    pass


InputPath = Annotated[str, PathRole("input")]
"""A file the tool reads; the audit log records its SHA-256."""

OutputPath = Annotated[str, PathRole("output")]
"""A file the tool writes; the audit log records its SHA-256 after the call."""

Secret = Annotated[str, SecretMarker()]
"""A value that must never be written anywhere (API keys, tokens)."""


def _markers(annotation: Any) -> list[object]:
    found: list[object] = []
    if typing.get_origin(annotation) is Annotated:
        found.extend(annotation.__metadata__)
        annotation = typing.get_args(annotation)[0]
    for arg in typing.get_args(annotation):
        found.extend(_markers(arg))
    return found


def field_markers(model: type[BaseModel], field: str) -> list[object]:
    """Markers on a field, looking inside Optional[...] and list[...] too."""
    info = model.model_fields[field]
    return list(info.metadata) + _markers(info.annotation)


def path_fields(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> "input" / "output" for every path-typed field of ``model``."""
    roles: dict[str, str] = {}
    for name in model.model_fields:
        for marker in field_markers(model, name):
            if isinstance(marker, PathRole):
                roles[name] = marker.role
    return roles


def secret_fields(model: type[BaseModel]) -> set[str]:
    return {name for name in model.model_fields if any(isinstance(m, SecretMarker) for m in field_markers(model, name))}
