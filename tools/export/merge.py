"""Merged weights: the base with the adapter folded in (peft ``merge_and_unload``), saved as safetensors with
the tokenizer, its chat template and a generation config whose EOS is the one the run's answers end with.

The merge runs in the precision the weights are saved in (the training precision unless the caller allowed a
change), on the CPU: a merged model is read once and written once, no GPU is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.export.source import RunSource, load_base, load_tokenizer, stop_token_ids


def merge_to(src: RunSource, folder: Path, precision: str, tokenizer: Any | None = None) -> dict[str, Any]:
    """Write the merged model into ``folder`` (which must exist and be empty); what was written."""
    from peft import PeftModel

    tok = tokenizer if tokenizer is not None else load_tokenizer(src)
    base = load_base(src, tok, precision)
    merged = PeftModel.from_pretrained(base, str(src.adapter)).merge_and_unload()
    stops = stop_token_ids(src, tok)
    gen = merged.generation_config
    gen.eos_token_id = stops if len(stops) > 1 else stops[0]
    gen.pad_token_id = tok.pad_token_id
    if getattr(gen, "bos_token_id", None) is None and tok.bos_token_id is not None:
        gen.bos_token_id = tok.bos_token_id
    merged.config.eos_token_id = gen.eos_token_id
    merged.config.pad_token_id = tok.pad_token_id
    merged.config.name_or_path = f"{src.base_model}+{src.run_id}"
    merged.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    return {"precision": precision, "stop_token_ids": stops, "parameters": sum(p.numel() for p in merged.parameters())}


__all__ = ["merge_to"]
