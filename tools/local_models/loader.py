"""Which causal LM a name means, found offline in seconds, and loading it (tokenizer with a chat template, model).

A model name is one of: the built-in ``tiny-random-llama``; the packaged Gemma 3 270M (``gemma-3-270m``);
a folder in the workspace that ``save_pretrained`` wrote; a Hugging Face id already in the local cache.
:func:`resolve_model` decides which without touching the network, so a name that cannot load fails at
launch with the fix, not minutes later in the worker. Nothing is ever downloaded here.

Heavy imports (torch, transformers) stay inside the functions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.core.errors import ToolError
from tools.local_models import gemma
from tools.local_models.templates import ensure_chat_template
from tools.local_models.tiny import TINY_MODEL_ID, build_model, build_tokenizer, is_tiny

Kind = Literal["tiny", "packaged", "folder", "hub_cache"]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "model*.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
CHOICES = f"a model folder with config.json and weights, a Hugging Face id in the local cache, '{gemma.GEMMA_ID}' or "


@dataclass(frozen=True)
class ModelRef:
    """A model that loads here: ``name`` as the plan records it, ``path`` what from_pretrained takes."""

    name: str
    kind: Kind
    path: str

    @property
    def label(self) -> str:
        return self.name


def _check_folder(folder: Path, label: str, weights: bool = True) -> None:
    config = folder / "config.json"
    if not config.is_file():
        raise ToolError(
            "unsupported_model",
            f"{label} has no config.json: not a Hugging Face model folder",
            "point at the folder save_pretrained wrote (config.json, *.safetensors, tokenizer files)",
        )
    try:
        data = json.loads(config.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(
            "unsupported_model", f"{label}: config.json is not readable JSON ({exc})", "re-download or re-save it"
        ) from None
    archs = data.get("architectures") or []
    if archs and not any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs):
        raise ToolError(
            "unsupported_model",
            f"{label} is a {', '.join(map(str, archs))}, not a causal language model",
            "fine-tune a causal LM (…ForCausalLM); pick a chat or base LLM",
        )
    if weights and not any(any(folder.glob(p)) for p in WEIGHTS):
        raise ToolError(
            "unsupported_model",
            f"{label} has a config.json but no weights (*.safetensors or pytorch_model*.bin)",
            "copy the weight files into the folder, or download the model again",
        )
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ToolError(
            "unsupported_model",
            f"{label} has no tokenizer files (tokenizer.json, tokenizer_config.json, ...)",
            "save the tokenizer into the folder too: tokenizer.save_pretrained(folder)",
        )


def _hub_cached(model_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # noqa: BLE001 - a broken cache is the same as no cache
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def resolve_model(name: str, root: Path, *, weights: bool = True) -> ModelRef:
    """The model ``name`` means, checked offline (workspace ``root`` for relative folders); ToolError naming the fix.
    ``weights=False`` accepts a folder with a config and a tokenizer but no weights (enough to render templates)."""
    text = (name or "").strip()
    if is_tiny(text):
        return ModelRef(TINY_MODEL_ID, "tiny", "")
    if gemma.is_gemma(text):
        if gemma.converted() is None and not gemma.installed():
            raise ToolError(
                "model_not_available",
                f"the packaged model {gemma.GEMMA_ID} is not installed",
                "pip install 'finetune-skill[real-model]' (or `make demo-real`, which installs it hash-checked)",
            )
        return ModelRef(gemma.GEMMA_ID, "packaged", "")
    candidate = Path(text) if Path(text).is_absolute() else root / text
    looks_like_path = text.startswith((".", "/", "~")) or candidate.exists() or ("/" in text and not HUB_ID.match(text))
    if looks_like_path:
        if not candidate.is_dir():
            raise ToolError(
                "model_not_found", f"model folder {text!r} does not exist", "give " + CHOICES + f"'{TINY_MODEL_ID}'"
            )
        _check_folder(candidate, text, weights)
        return ModelRef(str(candidate.resolve()), "folder", str(candidate.resolve()))
    if not HUB_ID.match(text):
        raise ToolError(
            "unsupported_model",
            f"{text!r} is neither a model folder nor a Hugging Face id (owner/name)",
            f"e.g. Qwen/Qwen3-0.6B, ./models/my-base, {gemma.GEMMA_ID} or {TINY_MODEL_ID}",
        )
    snapshot = _hub_cached(text)
    if snapshot is None:
        raise ToolError(
            "model_not_available",
            f"{text} is not in the local Hugging Face cache (training never downloads)",
            f"download it first (`hf download {text}`), or give " + CHOICES + f"'{TINY_MODEL_ID}'",
        )
    _check_folder(snapshot, text, weights)
    return ModelRef(text, "hub_cache", text)


def source(ref: ModelRef) -> str:
    """What from_pretrained loads for ``ref`` (the packaged Gemma is converted on first use)."""
    return str(gemma.folder()) if ref.kind == "packaged" else ref.path


def load_tokenizer(ref: ModelRef) -> Any:
    """The tokenizer, with a chat template (ChatML when it has none) and a pad token."""
    if ref.kind == "tiny":
        tok = build_tokenizer()
    else:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(source(ref))
        except (OSError, ValueError) as exc:
            raise ToolError(
                "model_not_available",
                f"cannot load the tokenizer of {ref.name}: {str(exc).splitlines()[0][:200]}",
                "check the model folder's tokenizer files",
            ) from None
    ensure_chat_template(tok)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(ref: ModelRef, *, dtype: Any = None, seed: int = 0, tokenizer: Any = None) -> Any:
    """The base model on the CPU (the tiny model's weights come from ``seed``)."""
    if ref.kind == "tiny":
        return build_model(seed, tokenizer)
    import torch
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(source(ref), dtype=dtype or torch.float32)
    except (OSError, ValueError) as exc:
        raise ToolError(
            "model_not_available",
            f"cannot load {ref.name}: {str(exc).splitlines()[0][:200]}",
            "check the model folder (config.json and weights), or give another model",
        ) from None


def stop_token_ids(ref: ModelRef, tokenizer: Any) -> list[int]:
    """The token ids generation stops on: the model's generation config (else config.json), else the tokenizer's EOS."""
    ids: Any = None
    if ref.kind != "tiny":
        folder = Path(source(ref)) if ref.kind != "hub_cache" else _hub_cached(ref.path)
        for file in ("generation_config.json", "config.json"):
            try:
                ids = json.loads(((folder or Path()) / file).read_text("utf-8")).get("eos_token_id")
            except (OSError, ValueError):
                continue
            if ids is not None:
                break
    if ids is None:
        ids = tokenizer.eos_token_id
    return [int(i) for i in (ids if isinstance(ids, list) else [ids]) if i is not None]


__all__ = ["ModelRef", "load_causal_lm", "load_tokenizer", "resolve_model", "source", "stop_token_ids"]
