"""More than one training process, on one machine or several, through ``accelerate launch`` (torchrun underneath).

``spawn_worker`` starts the ranks of this machine with
``accelerate launch --config_file runs/<id>/accelerate_config.yaml`` (written from config.json by
:func:`accelerate_config` at each start; a DeepSpeed run also gets
``deepspeed_config.json`` from :func:`deepspeed_config`); each rank runs tools.train.worker on the same run folder, and
TRL's trainer (transformers' Trainer underneath) does the rest: the process group, each rank's share of every step's
batches, the gradient all-reduce, and saving on rank 0.

- ``ddp``: every rank holds the whole model (CUDA GPUs over nccl, or CPU processes over gloo);
- ``fsdp``: accelerate's FSDP plugin (FSDP2, ``fully_shard`` on each decoder layer) shards base and LoRA weights
  over the ranks. accelerate runs FSDP on GPUs only (on CPU processes it falls back to DDP without a word), so an
  ``fsdp`` run is refused on a machine without CUDA;
- ``deepspeed_zero2`` / ``deepspeed_zero3``: accelerate's DeepSpeed plugin with the run's JSON (Hugging Face's
  "auto" values, which the Trainer fills from its own arguments); CUDA and the ``deepspeed`` extra only.

Several nodes: every node runs the same launch on the same run folder (shared storage) with its own machine rank;
the file is the same for all (machine_rank 0), the rank is passed on the command line, and the processes meet at
node 0's ``main_address`` (accelerate's static rendezvous).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.plan.scale import DEEPSPEED, Sharding

ACCELERATE_CONFIG = "accelerate_config.yaml"
DEEPSPEED_CONFIG = "deepspeed_config.json"


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
            "use method 'lora' with bf16, sharding 'deepspeed_zero3', or sharding 'ddp'",
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


def check_deepspeed(num_processes: int, *, cuda: bool) -> None:
    """ToolError when a DeepSpeed run cannot start here: no CUDA (its ZeRO engine trains on GPUs), or no
    ``deepspeed`` package (an optional extra)."""
    import importlib.util

    from tools.core.errors import ToolError

    if num_processes < 2:
        raise ToolError(
            "deepspeed_needs_processes",
            "DeepSpeed ZeRO splits the training state over processes and this run has one",
            "set num_processes to the number of GPUs (2 or more), or leave sharding at 'ddp'",
        )
    if not cuda:
        raise ToolError(
            "deepspeed_needs_cuda",
            "DeepSpeed ZeRO runs need CUDA GPUs here (this machine has none)",
            "use sharding 'ddp' on this machine, or run on GPUs",
        )
    if importlib.util.find_spec("deepspeed") is None:
        raise ToolError(
            "deepspeed_missing",
            "sharding 'deepspeed_zero2' / 'deepspeed_zero3' needs the deepspeed package, which is not installed",
            "pip install 'finetune-skill[deepspeed]' (or use sharding 'fsdp')",
        )


def check_sharding(sharding: Sharding, method: str, precision: str, num_processes: int, *, cuda: bool) -> None:
    """The launch-time checks of ``sharding`` over ``num_processes`` processes in all (every node's)."""
    if sharding == "fsdp":
        check_fsdp(method, precision, num_processes, cuda=cuda)
    elif sharding in DEEPSPEED:
        check_deepspeed(num_processes, cuda=cuda)


def deepspeed_config(sharding: Sharding, offload: bool) -> dict[str, Any]:
    """The run's DeepSpeed JSON in Hugging Face's form: batch sizes, clipping and precision are "auto" (the Trainer
    fills them from its arguments, so they cannot disagree with the plan); ZeRO stage 2 or 3, offload to CPU."""
    stage = 3 if sharding == "deepspeed_zero3" else 2
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
    zero["reduce_bucket_size"] = "auto"
    if offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if stage == 3:
        zero.update(
            {
                "stage3_prefetch_bucket_size": "auto",
                "stage3_param_persistence_threshold": "auto",
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
        if offload:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "train_batch_size": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
    }


def accelerate_config(
    num_processes: int,
    sharding: Sharding,
    fsdp: FsdpSettings | None,
    *,
    nodes: int = 1,
    main_host: str | None = None,
    main_port: int | None = None,
    deepspeed_file: str | None = None,
) -> dict[str, Any]:
    """The ``accelerate launch --config_file`` YAML of a run (accelerate's ClusterConfig keys); ``num_processes`` is
    the total over all nodes (accelerate starts ``num_processes // num_machines`` on each).

    Mixed precision stays 'no' here: the TRL config's bf16 flag decides it. On one node the port is passed on the
    command line at each start, so a resumed run does not reuse a port still held by the killed one; on several
    it is node 0's, fixed for all."""
    base: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "machine_rank": 0,
        "mixed_precision": "no",
        "num_machines": nodes,
        "num_processes": num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if nodes > 1:
        base.update({"main_process_ip": main_host, "main_process_port": main_port})
    if sharding == "ddp":
        # MULTI_GPU makes accelerate launch start the ranks with torchrun, on CPU too (its MULTI_CPU type expects an
        # MPI launcher, and its --cpu launcher does not join the nodes); each rank's Trainer then joins over nccl on
        # GPUs, gloo on CPU.
        return {**base, "distributed_type": "MULTI_GPU"}
    if sharding in DEEPSPEED:
        ds = {
            "deepspeed_config_file": deepspeed_file or DEEPSPEED_CONFIG,
            "zero3_init_flag": sharding == "deepspeed_zero3",
            "deepspeed_multinode_launcher": "standard",
        }
        return {**base, "distributed_type": "DEEPSPEED", "deepspeed_config": ds}
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


__all__ = [
    "ACCELERATE_CONFIG",
    "DEEPSPEED_CONFIG",
    "FsdpSettings",
    "Sharding",
    "accelerate_config",
    "check_deepspeed",
    "check_fsdp",
    "check_sharding",
    "deepspeed_config",
]
