"""``reference/data/export.yaml``: the GGUF types and who makes them, the parity and playground
defaults, vLLM's LoRA ranks. The export tools compute only with these rows."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.core.errors import ToolError
from tools.knowledge.core import Fact, load_facts, warning_texts


class GgufType(Fact):
    name: str
    precision: str
    via: Literal["converter", "quantizer"]


class Number(Fact):
    value: int
    why: str


class Ranks(Fact):
    values: list[int]
    default: int
    why: str


class ParityDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompts: Number
    max_new_tokens: Number


class PlaygroundDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_new_tokens: Number


class VllmFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_lora_ranks: Ranks


class ExportFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gguf_types: list[GgufType]
    parity: ParityDefaults
    playground: PlaygroundDefaults
    vllm: VllmFacts

    def gguf_type(self, name: str) -> GgufType:
        """The GGUF type called ``name`` (case-insensitive: q4_k_m is Q4_K_M); ToolError naming the known ones."""
        wanted = name.strip().lower()
        for row in self.gguf_types:
            if row.name.lower() == wanted:
                return row
        raise ToolError(
            "unknown_quant",
            f"{name!r} is not a GGUF type this export can make",
            "one of " + ", ".join(r.name for r in self.gguf_types),
        )


@cache
def export_facts() -> ExportFacts:
    return load_facts("export", ExportFacts)


def fact_warnings(*rows: Fact) -> list[str]:
    return warning_texts(rows, file="export.yaml")


__all__ = ["ExportFacts", "GgufType", "export_facts", "fact_warnings"]
