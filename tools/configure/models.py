"""The request and result models of configure_training."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tools.core.document import Block, Bullets, Cell, Document, Finding, Findings, Table, Text
from tools.core.fields import InputPath
from tools.plan.training_plan import TrainingPlan

ExportKind = Literal["trl_python", "trl_yaml", "axolotl", "llamafactory", "unsloth", "together_job", "openai_job"]


class ConfigRequest(BaseModel):
    """What to configure; everything is optional and has a documented default."""

    dataset: InputPath | None = Field(
        None,
        description="training JSONL: sets epochs, batch and max sequence length from its size and token statistics",
    )
    base_model: str | None = Field(
        None, description="Hugging Face id or local folder of the base model (default: the built-in tiny-random-llama)"
    )
    model_params_b: float | None = Field(
        None, description="model size in billions (default: read from the name, else 8)"
    )
    method: Literal["lora", "qlora", "full"] | None = Field(
        None, description="default: LoRA, QLoRA when LoRA does not fit the GPU"
    )
    gpu: str | None = Field(
        None, description="gpus.yaml id of the GPU to train on (a100-80gb, h100-sxm, l4, rtx-4090...)"
    )
    gpu_memory_gb: float | None = Field(None, description="memory of the GPU, when it is not in gpus.yaml")
    gpu_count: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="GPUs at hand (all nodes); when the model does not fit one GPU the sharding is sized to them",
    )
    examples: int | None = Field(None, ge=1, description="number of training examples, when no dataset is given")
    epochs: float | None = Field(None, gt=0, description="override: passes over the data")
    learning_rate: float | None = Field(None, gt=0, description="override: peak learning rate")
    lora_r: int | None = Field(None, ge=1, description="override: LoRA rank (alpha stays 2 x r)")
    max_seq_len: int | None = Field(None, ge=8, description="override: tokens per example")
    effective_batch_size: int | None = Field(None, ge=1, description="override: examples per optimizer step")
    seed: int | None = Field(None, description="override: random seed")
    provider_model: str | None = Field(
        None, description="model id for the provider job exports (Together model name; OpenAI snapshot)"
    )
    exports: list[ExportKind] | None = Field(None, description="which files to write (default: all)")
    out_dir: str | None = Field(None, description="folder for the plan and the exports (default: finetune-config)")


class Choice(BaseModel):
    name: str
    value: str
    reason: str
    source: str


class SequenceStats(BaseModel):
    examples: int
    p50: int
    p95: int
    p99: int
    max: int
    max_seq_len: int
    truncated_examples: int
    truncated_lines: list[int]
    counter: str


class MemoryFit(BaseModel):
    need_gb: float
    breakdown: str
    gpu: str | None
    gpu_memory_gb: float | None
    fits: bool | None = Field(description="null when no GPU was named (CPU or unknown hardware)")
    gpus_needed: int | None
    sharding: str | None = Field(None, description="the sharding mode picked when the plan does not fit one GPU")
    per_gpu_gb: float | None = Field(None, description="GB per GPU with that sharding (planning estimate)")
    note: str


class ExportFile(BaseModel):
    kind: str
    path: str
    sha256: str
    note: str | None = None
    legacy: bool = False


class ConfigResult(BaseModel):
    method: str
    plan: TrainingPlan | None = Field(
        description="what launch_lora takes (null for full fine-tuning, which launch_lora does not run)"
    )
    plan_file: str | None
    choices: list[Choice]
    memory: MemoryFit
    sequence: SequenceStats | None
    steps_per_epoch: int | None
    total_steps: int | None
    exports: list[ExportFile]
    warnings: list[str]

    def _memory_text(self) -> str:
        m = self.memory
        fit = "unknown hardware" if m.fits is None else "fits" if m.fits else "does not fit"
        if m.gpus_needed and m.gpus_needed > 1:
            fit += f" ({m.gpus_needed} GPUs needed)"
        return f"Memory: about {m.need_gb} GB ({m.breakdown}); {m.gpu or 'no GPU named'}: {fit} ({m.note})."

    def _headline(self) -> str:
        base = f"{self.method} on {self.plan.base_model}" if self.plan else self.method
        knobs = f", r={self.plan.lora_r}, lr={self.plan.learning_rate:g}" if self.plan and self.method != "full" else ""
        steps = f", {self.total_steps} steps" if self.total_steps else ""
        return f"{base}{knobs}{steps}"

    def document(self) -> Document:
        rows: list[list[Cell]] = [[c.name, c.value] for c in self.choices]
        blocks: list[Block] = [
            Table(title=f"Settings ({self.method})", headers=["knob", "value"], rows=rows),
            Bullets(title="Why", items=[f"{c.name}: {c.reason}" for c in self.choices]),
            Text(text=self._memory_text()),
        ]
        if self.sequence:
            s = self.sequence
            blocks.append(
                Text(
                    text=f"Tokens per example: p50 {s.p50}, p95 {s.p95}, p99 {s.p99}, max {s.max} "
                    f"({s.counter}); max_seq_len {s.max_seq_len}, {s.truncated_examples} truncated."
                )
            )
        if self.total_steps:
            blocks.append(Text(text=f"{self.steps_per_epoch} steps per epoch, {self.total_steps} in total."))
        blocks.append(
            Bullets(
                title="Files",
                items=[
                    f"{e.path}" + (" (legacy)" if e.legacy else "") + (f": {e.note}" if e.note else "")
                    for e in self.exports
                ],
            )
        )
        if self.plan_file:
            blocks.append(
                Text(
                    text=f"Train it: finetune train <data> --plan-file {self.plan_file} (or launch_lora "
                    f"plan_file={self.plan_file})."
                )
            )
        if self.warnings:
            blocks.append(
                Findings(title="Notices", items=[Finding(severity="warning", message=w) for w in self.warnings])
            )
        return Document(
            title="Training configuration",
            status="problems" if self.memory.fits is False else "ok",
            headline=self._headline(),
            blocks=blocks,
        )
