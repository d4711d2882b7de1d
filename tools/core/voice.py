"""One source for every message that tells a person (or a model) what to do next, in the voice of the surface
that shows it.

A tool cannot know who reads its result: an agent or an MCP client needs tool names and ``confirm=true``, a
person at the command line needs ``--confirm`` and ``finetune runs status ID``, a person talking to the offline
guide needs what to say to it. The texts live in ``prompts/messages.yaml``, one entry per message with one
template per surface; tools call :func:`say` and the surface that runs them picks the voice with
:func:`speaking` (the CLI for its commands, the chat for the guide). The default is the agent's voice, so MCP
and any caller that sets nothing get tool names.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Literal, get_args

import yaml

from tools.core.resources import prompts_dir

Surface = Literal["agent", "cli", "chat"]
SURFACES: tuple[Surface, ...] = get_args(Surface)
_current: ContextVar[Surface] = ContextVar("finetune_surface", default="agent")


@contextmanager
def speaking(surface: Surface) -> Iterator[None]:
    """Messages made inside this block are in ``surface``'s voice."""
    token = _current.set(surface)
    try:
        yield
    finally:
        _current.reset(token)


def surface() -> Surface:
    return _current.get()


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@cache
def catalogue() -> dict[str, dict[Surface, str]]:
    """prompts/messages.yaml: every message has a template for every surface, all naming the same fields."""
    raw = yaml.safe_load((prompts_dir() / "messages.yaml").read_text("utf-8"))["messages"]
    checked: dict[str, dict[Surface, str]] = {}
    for key, variants in raw.items():
        missing = [s for s in SURFACES if not isinstance(variants.get(s), str)]
        if missing:
            raise ValueError(f"prompts/messages.yaml: {key} has no text for {', '.join(missing)}")
        checked[key] = {s: variants[s].strip() for s in SURFACES}
    return checked


def say(key: str, surface_: Surface | None = None, **fields: object) -> str:
    """The message ``key`` with ``fields`` filled in, in the current surface's voice (or ``surface_``'s)."""
    return catalogue()[key][surface_ or _current.get()].format(**fields)
