"""Loads the machine-readable facts in ``reference/data/*.yaml`` and validates them on load.

Every fact row carries ``source`` (a URL) and ``as_of`` (a date); loading fails loudly, naming the
file and the row, when one lacks them. Tools compute only with numbers that come through here.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tools.errors import ToolError
from tools.resources import reference_data_dir


class Fact(BaseModel):
    """Base of every fact row: where it comes from and when it was true."""

    model_config = ConfigDict(extra="forbid")

    source: str
    as_of: date


Facts = TypeVar("Facts", bound=BaseModel)


class KnowledgeError(ToolError):
    def __init__(self, message: str, hint: str = "fix the YAML file; every row needs source and as_of") -> None:
        super().__init__("knowledge_invalid", message, hint)


def data_path(name: str) -> Path:
    return reference_data_dir() / f"{name}.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: missing", "reinstall finetune-skill; reference/data ships with it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise KnowledgeError(f"{path}{where}: not valid YAML ({exc})") from None


@cache
def load_facts(name: str, model: type[Facts]) -> Facts:
    """Read ``reference/data/<name>.yaml`` and validate it with ``model`` (cached per process)."""
    path = data_path(name)
    raw = _read_yaml(path)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False)[:5]:
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}")
        raise KnowledgeError(f"{path.name}: " + "; ".join(problems)) from None
