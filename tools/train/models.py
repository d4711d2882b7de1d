"""The request and result models of launch_lora."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from tools.core.document import Document, Text
from tools.core.fields import InputPath, OutputPath
from tools.local_models.preflight import PreflightReport
from tools.plan.scale import Sharding
from tools.plan.training_plan import Batching, Objective, Tracker, TrainingPlan
from tools.train.documents import launch_document


class LaunchLoraRequest(BaseModel):
    """What to train on, with which plan; overrides win over the plan."""

    data: InputPath = Field(
        description="Training data (JSONL in any format validate_jsonl reads: OpenAI chat, ShareGPT, Alpaca, "
        "prompt/completion, ...)."
    )
    eval_data: InputPath | None = Field(
        None, description="Held-out data for eval loss; default: eval_fraction of data is held out."
    )
    model: str | None = Field(
        None,
        description=(
            "Base model: a local model folder in the workspace, a Hugging Face id already in the local cache, "
            "'gemma-3-270m' (the real pretrained Gemma 3 270M of the real-model extra) or 'tiny-random-llama' "
            "(built in, random weights, for demos and tests). Nothing is downloaded. Default: the plan's base_model."
        ),
    )
    plan: TrainingPlan | None = Field(
        None,
        description="A full training plan (configure_training writes one); unset fields take the documented defaults.",
    )
    plan_file: InputPath | None = Field(None, description="A JSON file holding a training plan (instead of plan).")
    max_steps: int | None = Field(None, ge=1, description="Override: stop after this many optimizer steps.")
    num_epochs: float | None = Field(None, gt=0, description="Override: passes over the data.")
    learning_rate: float | None = Field(None, gt=0, description="Override: peak learning rate.")
    lora_r: int | None = Field(None, ge=1, description="Override: LoRA rank (alpha keeps the plan's alpha/r ratio).")
    per_device_batch_size: int | None = Field(None, ge=1, description="Override: examples per micro-batch.")
    gradient_accumulation_steps: int | None = Field(
        None, ge=1, description="Override: micro-batches per optimizer step."
    )
    max_seq_len: int | None = Field(None, ge=8, description="Override: tokens per example (longer ones are truncated).")
    batching: Batching | None = Field(None, description="Override: packed, length_grouped, padded or auto.")
    seed: int | None = Field(None, description="Override: seed for data order, split, LoRA init and dropout.")
    objective: Objective | None = Field(
        None,
        description="Override: sft, dpo (preference data) or grpo (rewards from run_eval's checks); auto picks dpo for "
        "preference data, else sft.",
    )
    report_to: list[Tracker] | None = Field(
        None, description="Override: log to these trackers as well (mlflow, tensorboard, trackio, wandb)."
    )
    preview: bool = Field(
        False,
        description="Also show two rendered examples token by token, each token marked trained or not (the preflight "
        "runs at every launch; this shows its samples).",
    )
    num_processes: int | None = Field(
        None,
        ge=1,
        le=64,
        description=(
            "Train with this many processes on this machine through `accelerate launch` (one per GPU, or CPU "
            "processes over gloo); each takes its share of every step's micro-batches, so the effective batch grows "
            "by this factor (times nodes)."
        ),
    )
    sharding: Sharding | None = Field(
        None,
        description=(
            "Override: how several processes hold the model: 'ddp' (each holds all of it; the plan's default), "
            "'fsdp' (FSDP2 splits the base and LoRA weights over the processes; not QLoRA or fp16), "
            "'deepspeed_zero2' or 'deepspeed_zero3' (DeepSpeed ZeRO; the deepspeed extra). Sharded modes need CUDA "
            "and 2 or more processes; same data order and result as ddp."
        ),
    )
    offload: bool | None = Field(
        None, description="Override: fsdp / deepspeed keep weights and optimizer state in CPU memory (slower)."
    )
    nodes: int | None = Field(
        None,
        ge=1,
        le=1024,
        description=(
            "Override: machines the run spans. Run the same launch on each (same run_name, nodes, num_processes, "
            "main_address; its own node_rank), with the workspace on storage every node sees."
        ),
    )
    node_rank: int | None = Field(None, ge=0, description="Override: this machine's node rank (0 on the main node).")
    main_address: str | None = Field(
        None, description="Override: HOST:PORT of node 0, where every node's processes meet (nodes > 1)."
    )
    join_wait_s: float = Field(
        600.0, ge=0, le=86400, description="Node rank > 0: how long to wait for node 0 to create the run folder."
    )
    merge: bool = Field(False, description="Also write merged full weights (base + adapter) to runs/<id>/merged/.")
    run_name: str | None = Field(None, description="A short name to put in the run id.")
    confirm: StrictBool = Field(
        False,
        description=(
            "Must be true to start training (it runs for minutes and uses the machine); without it the tool only "
            "says what would run: the plan, the data counts, the estimated steps and time."
        ),
    )


class DataCount(BaseModel):
    path: str
    format: str | None
    lines: int
    usable: int
    skipped_lines: list[int]
    preference: bool = False


class LaunchLoraResult(BaseModel):
    started: bool
    run_id: str | None
    folder: str | None
    pid: int | None
    plan: TrainingPlan
    data: DataCount
    eval_data: DataCount | None
    train_examples: int
    eval_examples: int
    estimated_steps: int
    estimated_tokens: int | None
    estimated_seconds: float | None
    device: str
    precision: str
    objective: str
    preflight: PreflightReport
    message: str
    warnings: list[str]

    def document(self) -> Document:
        return launch_document(self)


RecipeKind = Literal["slurm", "skypilot"]


class LaunchRecipeRequest(BaseModel):
    """A cluster launch script for a run over several nodes: the same ``finetune train`` on every node."""

    kind: RecipeKind = Field(description="slurm (an sbatch script) or skypilot (a SkyPilot task YAML).")
    data: InputPath = Field(description="Training data (JSONL); the recipe copies it into the shared folder.")
    run_name: str = Field(description="The run id every node launches into (runs/<run_name>/ in the shared folder).")
    nodes: int = Field(ge=1, le=1024, description="Machines to train on.")
    processes_per_node: int = Field(ge=1, le=64, description="Training processes per machine: its GPU count.")
    shared_dir: str = Field(
        description=(
            "Absolute folder every node sees (a shared filesystem on Slurm; on SkyPilot the bucket's mount point): "
            "the workspace there holds the data copy and runs/<run_name>/ with its checkpoints, so a preempted job "
            "resumes."
        )
    )
    model: str | None = Field(None, description="Base model (default: the plan's).")
    plan_file: InputPath | None = Field(None, description="A training plan (configure_training writes one).")
    max_steps: int | None = Field(None, ge=1, description="Override: optimizer steps.")
    sharding: Sharding | None = Field(None, description="Override: ddp, fsdp, deepspeed_zero2 or deepspeed_zero3.")
    offload: bool | None = Field(None, description="Override: fsdp / deepspeed offload to CPU memory.")
    main_port: int = Field(29500, ge=1024, le=65535, description="Port on node 0 where the processes meet.")
    package: str | None = Field(
        None,
        description=(
            "The pip requirement each node installs (a name, a wheel path or a git URL); default "
            "finetune-skill[train], with the deepspeed extra for DeepSpeed runs."
        ),
    )
    accelerators: str | None = Field(
        None, description="SkyPilot (needed): GPUs per node as NAME:COUNT, e.g. A100-80GB:8."
    )
    bucket: str | None = Field(None, description="SkyPilot: the storage bucket mounted at shared_dir (needed).")
    use_spot: bool = Field(False, description="SkyPilot: spot instances (preempted runs resume from the bucket).")
    partition: str | None = Field(None, description="Slurm: the partition (#SBATCH --partition).")
    time_limit: str | None = Field(None, description="Slurm: the time limit, e.g. 12:00:00 (#SBATCH --time).")
    out: OutputPath | None = Field(None, description="Where to write it (default: <run_name>.sbatch or .sky.yaml).")


class LaunchRecipeResult(BaseModel):
    kind: RecipeKind
    path: str
    submit: str = Field(description="The command that starts it on the cluster.")
    checked: str = Field(description="What was checked here, by what.")
    message: str

    def document(self) -> Document:
        return Document(
            title="Launch recipe",
            status="ok",
            headline=f"wrote {self.path} ({self.kind})",
            blocks=[Text(text=self.checked), Text(text=f"Submit it from this folder: {self.submit}")],
            files=[self.path],
        )


__all__ = ["DataCount", "LaunchLoraRequest", "LaunchLoraResult", "LaunchRecipeRequest", "LaunchRecipeResult"]
