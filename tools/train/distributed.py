"""More than one training process: the process group, DDP gradient sums, FSDP2 sharding, gathered state.

``spawn_worker`` starts every rank through ``accelerate launch`` (torchrun underneath); each rank runs
tools.train.worker on the same run folder. Two ways to share the work, chosen by ``sharding`` in
config.json:

- ``ddp``: every rank holds the whole model; rank r trains micro-batch ``k*world + r`` of the seeded order
  and the LoRA gradients (small) are summed with one all_reduce per step;
- ``fsdp``: torch FSDP2 (``torch.distributed.fsdp.fully_shard``) on every decoder layer and then on the
  whole peft model, so the frozen base weights and the LoRA weights are sharded over the ranks (DTensor
  parameters) and each rank holds about 1/world of the model. The data split is the same as ddp.
  Gradients are reduce-scattered as sums (divide factor 1): each rank already divided its loss by the
  trained-token count of the whole step, as under ddp, so both give the same update.

The wrapping is done here with torch's own API, not with accelerate's FSDP plugin: ``Accelerator`` turns
FSDP off for CPU processes (MULTI_CPU) and expects its own training loop. The launch still goes through
``accelerate launch --config_file runs/<id>/accelerate_config.yaml`` (written from config.json by
:func:`accelerate_config`), so the run folder holds a config accelerate itself reads.

Everything that gathers (the adapter, the optimizer state, the RNG states) is a collective: every rank
calls it, rank 0 gets the result and writes the files. Heavy imports stay inside the functions so that
tools.train.runs can import this module cheaply.
"""

from __future__ import annotations

import os
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


def check_fsdp(method: str, precision: str, num_processes: int) -> None:
    """ToolError when an ``fsdp`` run cannot work as asked (checked at launch and again in the worker)."""
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
            "sharding 'fsdp' with fp16 needs a sharded gradient scaler, which this trainer does not have",
            "use precision 'bf16' (or 'auto') with fsdp, or sharding 'ddp'",
        )


def dist_env() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (accelerate launch / torchrun); (0, 1) for one process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0, 1
    return (rank, world) if world > 1 else (0, 1)


def init_process_group(rank: int) -> None:
    """Join the launcher's process group (nccl on GPUs, gloo on CPU) and pick this rank's GPU."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def sum_over_ranks(values: list[float]) -> list[float]:
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device="cuda" if torch.cuda.is_available() else "cpu")
    dist.all_reduce(t)
    return [float(v) for v in t.cpu()]


def sum_grads(params: list[Any]) -> None:
    """DDP: sum the (replicated, small) LoRA gradients over ranks in one flat all_reduce."""
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads]).to(torch.float32)
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g).to(g.dtype))
        offset += n


def gather_to_main(obj: Any, rank: int, world: int) -> list[Any] | None:
    """``obj`` of every rank, in rank order, on rank 0 (None elsewhere)."""
    import torch.distributed as dist

    out: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def _no_split_modules(model: Any) -> list[str]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return list(getattr(base, "_no_split_modules", None) or [])


def shard(model: Any, settings: FsdpSettings, device: str) -> list[str]:
    """FSDP2 in place: ``fully_shard`` each layer of ``settings.layer_classes``, then the root; the classes wrapped.

    Each layer is sharded before the root, so a model loaded on the CPU moves to the GPU one layer's shard at a time."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, OffloadPolicy, fully_shard

    from tools.core.errors import ToolError

    classes = settings.layer_classes or _no_split_modules(model)
    layers = [m for m in model.modules() if type(m).__name__ in set(classes)]
    wrapped = sorted({type(m).__name__ for m in layers})
    if not layers:
        raise ToolError(
            "fsdp_no_layers",
            f"FSDP found no module of class {', '.join(classes) or '(none)'} to shard",
            "set fsdp.layer_classes in config.json to the model's decoder layer class, or use sharding 'ddp'",
        )
    mesh = init_device_mesh(device, (torch.distributed.get_world_size(),))
    offload = CPUOffloadPolicy() if settings.offload_params and device == "cuda" else OffloadPolicy()
    kwargs: dict[str, Any] = {
        "mesh": mesh,
        "reshard_after_forward": settings.reshard_after_forward,
        "offload_policy": offload,
    }
    for layer in layers:
        fully_shard(layer, **kwargs)
    fully_shard(model, **kwargs)
    for unit in (*layers, model):
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)  # a plain SUM: gloo has no PREMUL_SUM
    return wrapped


def is_sharded(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def grad_sync(model: Any, enabled: bool) -> None:
    """FSDP: reduce-scatter only after the last micro-batch of an accumulation window."""
    if is_sharded(model):
        model.set_requires_gradient_sync(enabled)


def full_norm(norm: Any) -> float:
    """clip_grad_norm_ returns a DTensor for sharded parameters; the global norm as a float."""
    from torch.distributed.tensor import DTensor

    return float(norm.full_tensor() if isinstance(norm, DTensor) else norm)


def _full_options(**extra: bool) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **extra)


def gather_trainable(model: Any) -> dict[str, Any]:
    """The full (unsharded) trainable weights, keyed by parameter name, on rank 0 ({} elsewhere). Collective."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options(ignore_frozen_params=True))


def load_trainable(model: Any, state: dict[str, Any]) -> None:
    """Rank 0's full trainable weights (parameter names as keys) into every rank's shards. Collective."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_full_options(broadcast_from_rank0=True, strict=False))


def gather_optimizer(model: Any, optimizer: Any) -> dict[str, Any]:
    """The full optimizer state keyed by parameter name, on rank 0 ({} elsewhere). Collective."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full_options())


def load_optimizer(model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=_full_options(broadcast_from_rank0=True))


def adapter_keys_to_params(model: Any, adapter: dict[str, Any], adapter_name: str = "default") -> dict[str, Any]:
    """adapter_model.safetensors keys (peft drops the adapter name) back to the model's parameter names."""
    from tools.core.errors import ToolError

    names = {n.replace(f".{adapter_name}", ""): n for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(set(names) - set(adapter))
    if missing:
        raise ToolError(
            "checkpoint_mismatch",
            f"the checkpoint's adapter lacks {len(missing)} LoRA weights of this model (first: {missing[0]})",
            "resume with the run's own config.json, or launch a new run",
        )
    return {names[k]: adapter[k] for k in names}


def accelerate_config(num_processes: int, sharding: Sharding, fsdp: FsdpSettings | None) -> dict[str, Any]:
    """The ``accelerate launch --config_file`` YAML of a run (accelerate's ClusterConfig keys).

    Mixed precision stays 'no': the worker does its own bf16 autocast. The port is passed on the
    command line at each start, so a resumed run does not reuse a port still held by the killed one."""
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
        return {**base, "distributed_type": "MULTI_GPU"}
    s = fsdp or FsdpSettings()
    fsdp_config: dict[str, Any] = {
        "fsdp_version": s.version,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
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
    "FsdpSettings",
    "Sharding",
    "accelerate_config",
    "check_fsdp",
    "dist_env",
    "gather_optimizer",
    "gather_to_main",
    "gather_trainable",
    "init_process_group",
    "load_optimizer",
    "load_trainable",
    "shard",
    "sum_grads",
    "sum_over_ranks",
]
