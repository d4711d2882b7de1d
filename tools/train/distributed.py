"""More than one training process, through ``accelerate launch`` (torchrun underneath) and the Trainer.

``spawn_worker`` starts every rank with ``accelerate launch --config_file runs/<id>/accelerate_config.yaml``
(written from config.json by :func:`accelerate_config` at each start); each rank runs tools.train.worker on the
same run folder, and TRL's trainer (transformers' Trainer underneath) does the rest: the process group, each
rank's share of every step's batches, the gradient all-reduce, and saving on rank 0.

- ``ddp``: every rank holds the whole model (CUDA GPUs over nccl, or CPU processes over gloo);
- ``fsdp``: accelerate's FSDP plugin (FSDP2, ``fully_shard`` on each decoder layer) shards base and LoRA weights
  over the ranks. accelerate runs FSDP on GPUs only (on CPU processes it falls back to DDP without a word), so an
  ``fsdp`` run is refused on a machine without CUDA.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Sharding = Literal["ddp", "fsdp"]
ACCELERATE_CONFIG = "accelerate_config.yaml"


class FsdpSettings(BaseModel):
    """How an ``fsdp`` run shards the model (stored in config.json under ``fsdp``)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[2] = Field(2, description="FSDP2 (fully_shard, per-parameter DTensor sharding).")
    reshard_after_forward: bool = Field(
        True,
        description=(
            "Free the gathered layer after its forward (ZeRO-3); false keeps it until backward (ZeRO-2: more memory, "
            "less traffic)."
        ),
    )
    offload_params: bool = Field(
        False, description="Keep the sharded parameters and gradients in CPU memory (CUDA only)."
    )
    layer_classes: list[str] | None = Field(
        None,
        description=("Module classes sharded one by one; default: the model's _no_split_modules (its decoder layer)."),
    )


def check_fsdp(method: str, precision: str, num_processes: int, *, cuda: bool = True) -> None:
    """ToolError when an ``fsdp`` run cannot work as asked (checked at launch)."""
    from tools.core.errors import ToolError

    if num_processes < 2:
        raise ToolError(
            "fsdp_needs_processes",
            "sharding 'fsdp' splits the model over processes and this run has one",
            "set num_processes to the number of GPUs (2 or more), or leave sharding at 'ddp'",
        )
    if method == "qlora":
        raise ToolError(
            "fsdp_qlora_unsupported",
            "sharding 'fsdp' with QLoRA is not supported here (4-bit weights "
            "stored as uint8 cannot be sharded as DTensors)",
            "use method 'lora' with bf16, or sharding 'ddp'",
        )
    if precision == "fp16":
        raise ToolError(
            "fsdp_fp16_unsupported",
            "sharding 'fsdp' with fp16 is not supported here (bf16 needs no gradient scaler)",
            "use precision 'bf16' (or 'auto') with fsdp, or sharding 'ddp'",
        )
    if not cuda:
        raise ToolError(
            "fsdp_needs_cuda",
            "sharding 'fsdp' needs CUDA GPUs: accelerate runs FSDP on GPUs only (CPU processes would silently run DDP)",
            "use sharding 'ddp' on this machine (each process holds the whole model), or run on GPUs",
        )


def accelerate_config(num_processes: int, sharding: Sharding, fsdp: FsdpSettings | None) -> dict[str, Any]:
    """The ``accelerate launch --config_file`` YAML of a run (accelerate's ClusterConfig keys).

    Mixed precision stays 'no' here: the TRL config's bf16 flag decides it. The port is passed on the command
    line at each start, so a resumed run does not reuse a port still held by the killed one."""
    base: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": 0,
        "mixed_precision": "no",
        "num_machines": 1,
        "num_processes": num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if sharding == "ddp":
        # MULTI_GPU makes accelerate launch start the ranks with torchrun, on CPU too (its MULTI_CPU type expects an
        # MPI launcher); each rank's Trainer then joins over nccl on GPUs, gloo on CPU.
        return {**base, "distributed_type": "MULTI_GPU"}
    s = fsdp or FsdpSettings()
    fsdp_config: dict[str, Any] = {
        "fsdp_version": s.version,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_use_orig_params": True,
        "fsdp_reshard_after_forward": s.reshard_after_forward,
        "fsdp_offload_params": s.offload_params,
        "fsdp_state_dict_type": "FULL_STATE_DICT",
        "fsdp_cpu_ram_efficient_loading": False,
        "fsdp_activation_checkpointing": False,
    }
    if s.layer_classes:
        fsdp_config["fsdp_transformer_layer_cls_to_wrap"] = ",".join(s.layer_classes)
    return {**base, "distributed_type": "FSDP", "fsdp_config": fsdp_config}


__all__ = ["ACCELERATE_CONFIG", "FsdpSettings", "Sharding", "accelerate_config", "check_fsdp"]
