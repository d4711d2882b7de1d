"""The request and result models of configure_training."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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
