"""vLLM: the serve command and an OpenAI-compatible client snippet, for the adapter on its base (multi-LoRA,
``--enable-lora``) or a merged folder.

The command is written as ``serve.sh`` in the export folder (paths relative to it, so the folder can move) with
the dtype of the training precision, the training chat template (``--chat-template``: vLLM would otherwise use
the base tokenizer's, which may have none) and, for the adapter, the smallest ``--max-lora-rank`` vLLM accepts
that holds the adapter's rank. The client asks the server with greedy decoding and the run's stop token ids.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from tools.core.errors import ToolError
from tools.export.facts import export_facts

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
PRECISION_OF_DTYPE = {v: k for k, v in DTYPES.items()}
PORT = "8000"


@dataclass(frozen=True)
class VllmServe:
    argv: list[str]
    served_name: str
    client: str

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def max_lora_rank(rank: int) -> int:
    """The smallest value vLLM's --max-lora-rank accepts that is at least ``rank``."""
    ranks = export_facts().vllm.max_lora_ranks
    fitting = [r for r in sorted(ranks.values) if r >= rank]
    if not fitting:
        raise ToolError(
            "lora_rank_unsupported",
            f"the adapter's rank {rank} is above the largest --max-lora-rank vLLM accepts ({max(ranks.values)})",
            "serve a merged copy instead (vllm_mode='merged', --vllm-mode merged)",
        )
    return fitting[0]


def adapter_command(base: str, adapter: str, name: str, rank: int, dtype: str, template: str, qlora: bool) -> list[str]:
    argv = ["vllm", "serve", base, "--dtype", dtype, "--enable-lora", "--lora-modules", f"{name}={adapter}"]
    argv += ["--max-lora-rank", str(max_lora_rank(rank)), "--chat-template", template, "--port", PORT]
    if qlora:
        argv += ["--quantization", "bitsandbytes"]
    return argv


def merged_command(folder: str, name: str, dtype: str, template: str) -> list[str]:
    return [
        "vllm", "serve", folder, "--dtype", dtype, "--served-model-name", name,
        "--chat-template", template, "--port", PORT,
    ]  # fmt: skip


def client_snippet(model: str, stop_ids: list[int]) -> str:
    return f'''"""Ask the served fine-tune through vLLM's OpenAI-compatible API (start it with serve.sh first)."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("VLLM_BASE_URL", "http://localhost:{PORT}/v1"),
    api_key=os.environ.get("VLLM_API_KEY", "EMPTY"),
)
response = client.chat.completions.create(
    model={model!r},
    messages=[{{"role": "user", "content": "Hello! What can you help me with?"}}],
    temperature=0,
    max_tokens=256,
    extra_body={{"stop_token_ids": {stop_ids!r}}},
)
print(response.choices[0].message.content)
'''


def serve_script(argv: list[str], header: list[str]) -> str:
    lines = ["#!/bin/sh", *[f"# {h}" for h in header], 'cd "$(dirname "${0}")" || exit 1', "exec " + shlex.join(argv)]
    return "\n".join(lines) + "\n"


__all__ = ["DTYPES", "PRECISION_OF_DTYPE", "VllmServe", "adapter_command", "client_snippet", "max_lora_rank",
           "merged_command", "serve_script"]  # fmt: skip
