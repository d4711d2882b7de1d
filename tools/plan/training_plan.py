"""The training plan: every knob of a LoRA / QLoRA SFT run, as one pydantic model.

:class:`TrainingPlan` is the contract between the tool that chooses the numbers (configure_training)
and the tool that trains with them (launch_lora). Every field has a default taken from
``reference/data/lora_defaults.yaml`` (each number with its source and date); nothing numeric lives
here. A plan is stored whole in ``runs/<id>/config.json``, so a run can be reproduced from it.

    from tools.plan.training_plan import TrainingPlan
    plan = TrainingPlan(base_model="Qwen/Qwen3-0.6B", max_steps=200)   # the rest from the defaults
    plan.effective_batch                                               # per-device batch x accumulation
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.knowledge.lora_defaults import load_defaults
from tools.plan.scale import Sharding


def tiny_model_learning_rate(base_model: str) -> tuple[float, str] | None:
    """(learning rate, why) for the built-in tiny model, whose random weights want a far larger rate than any
    real model; None for every other model. configure_training and launch_lora both default to it."""
    from tools.local_models.tiny import is_tiny

    if not is_tiny(base_model):
        return None
    defaults = load_defaults()
    return defaults.number(
        "tiny_random_llama_learning_rate"
    ), f"built-in tiny model: {defaults.row('tiny_random_llama_learning_rate').why}"


def _num(name: str) -> float:
    return load_defaults().number(name)


def _int(name: str) -> int:
    return int(load_defaults().number(name))


Scheduler = Literal["cosine", "linear", "constant", "constant_with_warmup"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Batching = Literal["auto", "packed", "length_grouped", "padded"]
Optimizer = Literal["adamw_torch_fused", "adamw_torch", "adamw_8bit", "paged_adamw_8bit"]
Objective = Literal["auto", "sft", "dpo", "grpo"]
Reward = Literal[
    "exact_match",
    "normalised_exact_match",
    "token_f1",
    "rouge_l",
    "contains_all",
    "regex_match",
    "json_valid",
    "schema_valid",
    "label_accuracy",
]
Tracker = Literal["mlflow", "tensorboard", "trackio", "wandb"]


class TrainingPlan(BaseModel):
    """A LoRA/QLoRA supervised fine-tuning plan; unset fields take the documented defaults."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        "tiny-random-llama",
        description=(
            "Base model: a Hugging Face id, a local model folder inside the workspace, or the built-in "
            "'tiny-random-llama' (random weights, trains on CPU in seconds; for demos and tests)."
        ),
    )
    method: Literal["lora", "qlora"] = Field(
        "lora", description="lora, or qlora (4-bit NF4 base; needs CUDA and bitsandbytes)."
    )
    objective: Objective = Field(
        "auto",
        description=(
            "What the trainer optimises: sft (TRL SFTTrainer), dpo (TRL DPOTrainer on prompt/chosen/rejected data), "
            "grpo (TRL GRPOTrainer, rewarded by run_eval's checks, see rewards); auto: dpo for preference data, "
            "else sft."
        ),
    )
    rewards: list[Reward] = Field(
        default_factory=list,
        description=(
            "GRPO: run_eval's checks used as reward functions (each scores a completion against the line's "
            "reference answer, summed); default: the checks whose reward_* setting is given, else token_f1."
        ),
    )
    reward_contains: list[str] | None = Field(None, description="GRPO contains_all: strings a completion must hold.")
    reward_regex: str | None = Field(
        None, description="GRPO regex_match: a regular expression a completion must match."
    )
    reward_labels: list[str] | None = Field(None, description="GRPO label_accuracy: the label set.")
    reward_json_schema: str | None = Field(
        None, description="GRPO schema_valid: a JSON schema file (in the workspace) completions must satisfy."
    )
    num_generations: int = Field(
        default_factory=lambda: _int("grpo_num_generations"),
        ge=2,
        description="GRPO: completions sampled per prompt (the per-device batch must be a multiple of it).",
    )
    max_completion_length: int = Field(
        default_factory=lambda: _int("grpo_max_completion_length"), ge=1, description="GRPO: tokens per completion."
    )
    dpo_beta: float = Field(default_factory=lambda: _num("dpo_beta"), gt=0, description="DPO: the beta temperature.")
    lora_r: int = Field(default_factory=lambda: _int("lora_r"), ge=1, description="LoRA rank.")
    lora_alpha: float = Field(
        default_factory=lambda: _num("lora_alpha"), gt=0, description="LoRA alpha (scale = alpha / r)."
    )
    lora_dropout: float = Field(
        default_factory=lambda: _num("lora_dropout"), ge=0, lt=1, description="Dropout on the LoRA input."
    )
    target_modules: list[str] = Field(
        default_factory=lambda: [load_defaults().text("target_modules")],
        description=("Module names to adapt; ['all-linear'] adapts every linear layer except the output head."),
    )
    learning_rate: float = Field(default_factory=lambda: _num("learning_rate"), gt=0, description="Peak learning rate.")
    lr_scheduler: Scheduler = Field(
        default_factory=lambda: load_defaults().text("lr_scheduler"),  # type: ignore[arg-type,return-value]
        description="Learning-rate schedule after warm-up.",
    )
    warmup_ratio: float = Field(
        default_factory=lambda: _num("warmup_ratio"), ge=0, lt=1, description="Share of the steps spent warming up."
    )
    weight_decay: float = Field(default_factory=lambda: _num("weight_decay"), ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(
        default_factory=lambda: _num("max_grad_norm"), gt=0, description="Gradient clipping norm."
    )
    optimizer: Optimizer = Field(
        default_factory=lambda: load_defaults().text("optimizer"),  # type: ignore[arg-type,return-value]
        description="Optimizer; the 8-bit ones need CUDA and bitsandbytes.",
    )
    num_epochs: float = Field(
        default_factory=lambda: _num("num_epochs"),
        gt=0,
        description="Passes over the training data (max_steps wins when set).",
    )
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides num_epochs)."
    )
    per_device_batch_size: int = Field(
        default_factory=lambda: _int("per_device_batch_size"), ge=1, description="Examples per micro-batch."
    )
    gradient_accumulation_steps: int = Field(
        default_factory=lambda: _int("gradient_accumulation_steps"),
        ge=1,
        description="Micro-batches per optimizer step.",
    )
    max_seq_len: int = Field(
        default_factory=lambda: _int("max_seq_len"), ge=8, description="Tokens per example; longer ones are truncated."
    )
    batching: Batching = Field(
        "auto",
        description=(
            "packed: each micro-batch is one padding-free row with per-example position ids (no attention or "
            "position leakage); length_grouped: batches of similar length, padded; padded: random batches padded "
            "to the longest; auto: length_grouped (fastest measured on CPU and with the sdpa kernel)."
        ),
    )
    eval_fraction: float = Field(
        default_factory=lambda: _num("eval_fraction"),
        ge=0,
        lt=0.5,
        description="Held-out share of the data for eval loss when no eval file is given.",
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Eval loss every N steps (default: about 8 evaluations per run)."
    )
    save_steps: int | None = Field(None, ge=1, description="Checkpoint every N steps (default: about 4 per run).")
    logging_steps: int | None = Field(
        None, ge=1, description="Log metrics every N steps (default 10, fewer for short runs)."
    )
    keep_last_k: int = Field(
        default_factory=lambda: _int("keep_last_k"), ge=1, description="Checkpoints kept (older ones are deleted)."
    )
    seed: int = Field(
        default_factory=lambda: _int("seed"), description="Seed for the data order, split, LoRA init and dropout."
    )
    precision: Precision = Field("auto", description="auto: bf16 on CUDA GPUs that support it, else fp32.")
    gradient_checkpointing: bool | None = Field(
        None, description="Recompute activations in backward to save memory; default: on for GPUs, off on CPU."
    )
    report_to: list[Tracker] = Field(
        default_factory=list,
        description="Experiment trackers the trainer logs to (mlflow, tensorboard, trackio, wandb); none by default.",
    )
    watchdog: bool = Field(True, description="Stop early on NaN/inf, divergence or loss far above its start.")
    sharding: Sharding = Field(
        "ddp",
        description=(
            "With several processes: ddp (each holds the whole model), fsdp (FSDP2 splits the weights over them), "
            "deepspeed_zero2 (optimizer state and gradients split) or deepspeed_zero3 (weights split too); "
            "configure_training picks one when the model does not fit one GPU."
        ),
    )
    offload: bool = Field(
        False,
        description="fsdp / deepspeed: keep the sharded weights and optimizer state in CPU memory (slower; CUDA only).",
    )
    nodes: int = Field(1, ge=1, le=1024, description="Machines the run spans (each runs the same launch).")
    node_rank: int = Field(0, ge=0, description="This machine's place among the nodes: 0 on the main node.")
    main_address: str | None = Field(
        None, description="HOST:PORT of node 0, where the processes of every node meet (needed when nodes > 1)."
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls_mean_default(cls, data: object) -> object:
        """Portable tool schemas make every field nullable; a null means "use the default"."""
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if v is not None
                or k not in cls.model_fields
                or cls.model_fields[k].default is None
                and cls.model_fields[k].default_factory is None
            }
        return data

    @model_validator(mode="after")
    def _sane(self) -> TrainingPlan:
        if not self.target_modules:
            raise ValueError("target_modules is empty; use ['all-linear']")
        if self.node_rank >= self.nodes:
            raise ValueError(f"node_rank {self.node_rank} is not below nodes {self.nodes} (ranks count from 0)")
        return self

    @property
    def effective_batch(self) -> int:
        return self.per_device_batch_size * self.gradient_accumulation_steps

    def peft_targets(self) -> str | list[str]:
        """What LoraConfig(target_modules=...) takes: the string 'all-linear' or a list of names."""
        if [t.lower() for t in self.target_modules] == ["all-linear"]:
            return "all-linear"
        return list(self.target_modules)


def default_plan(**overrides: object) -> TrainingPlan:
    """A plan from the defaults with ``overrides`` (None values are ignored)."""
    return TrainingPlan.model_validate({k: v for k, v in overrides.items() if v is not None})


def watchdog_thresholds() -> dict[str, float]:
    d = load_defaults()
    return {r.name: float(r.value) for r in d.watchdog}


def cadence(total_steps: int, plan: TrainingPlan) -> tuple[int, int, int]:
    """(logging, eval, save) step intervals for a run of ``total_steps`` (plan values win when set)."""
    d = load_defaults()
    default_log = int(d.number("logging_steps"))
    logging = plan.logging_steps or max(1, min(default_log, total_steps // 25 or 1))
    evals = plan.eval_steps or max(1, total_steps // int(d.number("evals_per_run")) or 1)
    saves = plan.save_steps or max(1, total_steps // int(d.number("saves_per_run")) or 1)
    return logging, evals, saves


__all__ = ["TrainingPlan", "cadence", "default_plan", "watchdog_thresholds"]
