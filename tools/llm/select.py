"""Which backend ``finetune chat`` runs on, and why (the CLI says both).

Order when no backend is named:
1. ``--base-url`` given: ``openai`` (an OpenAI-compatible server; never a cloud API, because a base
   URL usually means the data must stay on that server).
2. ``--model`` names a model of reference/data/agent_models.yaml: that model's provider.
3. ``ANTHROPIC_API_KEY`` set: ``anthropic``; else ``OPENAI_API_KEY`` set: ``openai``.
4. Otherwise the offline ``guide``. The guide backend is built by the agent loop (skill.agent), not
   here: a guide selection carries ``backend=None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tools.core.errors import ToolError
from tools.llm.anthropic_backend import KEY_ENV as ANTHROPIC_KEY
from tools.llm.anthropic_backend import AnthropicBackend
from tools.llm.base import LLMBackend
from tools.llm.openai_backend import KEY_ENV as OPENAI_KEY
from tools.llm.openai_backend import OpenAIBackend
from tools.llm.pricing import find_model, model_notice
from tools.llm.transport import RetryPolicy, env_key

BackendName = Literal["anthropic", "openai", "guide"]
BACKENDS: tuple[BackendName, ...] = ("anthropic", "openai", "guide")


@dataclass(frozen=True)
class Selection:
    """The chosen backend. ``backend`` is None for ``guide`` (the loop builds the guide policy)."""

    name: BackendName
    backend: LLMBackend | None
    reason: str

    @property
    def notice(self) -> str | None:
        """A warning when the chosen model has been or is about to be shut down."""
        return model_notice(self.backend.model) if self.backend is not None else None

    @property
    def is_guide(self) -> bool:
        return self.name == "guide"

    def describe(self) -> str:
        """One line for the terminal: ``using anthropic (claude-sonnet-5-5): ANTHROPIC_API_KEY is set``."""
        what = self.backend.label if self.backend is not None else "the offline guide"
        notice = self.notice
        return f"using {what}: {self.reason}" + (f" (note: {notice})" if notice else "")


def _build(
    name: Literal["anthropic", "openai"],
    model: str | None,
    base_url: str | None,
    retry: RetryPolicy | None,
    timeout: float,
) -> LLMBackend:
    if name == "anthropic":
        return AnthropicBackend(model, base_url=base_url, retry=retry, timeout=timeout)
    return OpenAIBackend(model, base_url=base_url, retry=retry, timeout=timeout)


def select_backend(
    name: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 300.0,
) -> Selection:
    """Pick and build the backend for ``--backend NAME --model M --base-url URL`` (all optional).

    Raises ToolError for an unknown backend name, a missing key for the backend that was asked for
    (or that the model implies), an unusable base URL, or options the guide cannot take.
    """
    if name is not None:
        chosen = name.strip().lower()
        if chosen not in BACKENDS:
            raise ToolError("llm_unknown_backend", f"unknown backend {name!r}", f"use one of: {', '.join(BACKENDS)}")
        if chosen == "guide":
            extra = [flag for flag, value in (("--model", model), ("--base-url", base_url)) if value]
            if extra:
                raise ToolError(
                    "llm_bad_option",
                    f"the guide backend takes no {' or '.join(extra)}",
                    "drop those options, or pick --backend anthropic|openai",
                )
            return Selection("guide", None, "--backend guide was asked for")
        backend = _build(chosen, model, base_url, retry, timeout)  # type: ignore[arg-type]
        return Selection(chosen, backend, f"--backend {chosen} was asked for")  # type: ignore[arg-type]

    if base_url:
        return Selection(
            "openai",
            _build("openai", model, base_url, retry, timeout),
            f"--base-url points at an OpenAI-compatible server ({base_url})",
        )
    row = find_model(model) if model else None
    if row is not None:
        return Selection(
            row.provider, _build(row.provider, model, None, retry, timeout), f"{model} is an {row.provider} model"
        )
    if env_key(ANTHROPIC_KEY):
        return Selection("anthropic", _build("anthropic", model, None, retry, timeout), f"{ANTHROPIC_KEY} is set")
    if env_key(OPENAI_KEY):
        return Selection("openai", _build("openai", model, None, retry, timeout), f"{OPENAI_KEY} is set")
    if model:
        raise ToolError(
            "llm_missing_key",
            f"--model {model} needs an API key or a server, and none is set",
            f"export {ANTHROPIC_KEY} or {OPENAI_KEY}, pass --base-url for a local OpenAI-compatible "
            "server, or drop --model to use the offline guide",
        )
    return Selection(
        "guide",
        None,
        f"neither {ANTHROPIC_KEY} nor {OPENAI_KEY} is set, so the offline guide asks the checklist questions itself",
    )
