"""Training beyond one GPU: the sharding modes, the several-node fields, and which mode a memory plan needs.

Modes (all run through ``accelerate launch``; tools.train.distributed writes their config files):

- ``ddp``: every process holds the whole model; nothing is sharded, the gradients are all-reduced.
- ``fsdp``: FSDP2 shards the weights (and their gradients) over the processes; each layer is gathered for its
  forward and again for its backward.
- ``deepspeed_zero2``: DeepSpeed ZeRO-2 shards the optimizer state and the gradients, not the weights (for LoRA,
  whose optimizer state is small, it saves little).
- ``deepspeed_zero3``: ZeRO-3 shards the weights too, like FSDP; with ``offload`` the weights and the optimizer
  state live in CPU memory and cross PCIe every micro-batch.

:func:`pick_sharding` is what configure_training says when the memory plan does not fit one GPU: the mode, the
number of GPUs, why, and what it costs in speed (the traffic the mode adds per micro-batch).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from tools import knowledge
from tools.core.errors import ToolError
from tools.plan.plan_math import MemoryNeed

Sharding = Literal["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"]
SHARDINGS: tuple[str, ...] = ("ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3")
DEEPSPEED: tuple[str, ...] = ("deepspeed_zero2", "deepspeed_zero3")
_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def parse_main_address(address: str, *, field: str = "main_address") -> tuple[str, int]:
    """``HOST:PORT`` of node 0 -> (host, port); ToolError naming the field and the fix otherwise."""
    m = _ADDRESS.match(address.strip())
    port = int(m.group("port")) if m else 0
    if not m or not 0 < port < 65536:
        raise ToolError(
            "bad_main_address",
            f"{field} {address!r} is not HOST:PORT",
            "give node 0's address and a free port every node can reach, e.g. 10.0.0.1:29500",
        )
    return m.group("host").strip("[]"), port


def check_nodes(nodes: int, node_rank: int, main_address: str | None) -> None:
    """ToolError when the several-node fields contradict each other."""
    if node_rank >= nodes:
        raise ToolError(
            "bad_node_rank",
            f"node_rank {node_rank} is not below nodes {nodes} (ranks count 0 to {nodes - 1})",
            "give each machine its own node rank: 0 on the main node, 1 to nodes-1 on the others",
        )
    if nodes > 1 and not main_address:
        raise ToolError(
            "main_address_missing",
            f"nodes {nodes} needs main_address: the HOST:PORT of node 0, where the processes meet",
            "add --main-address HOST:PORT (node 0's address; the same on every node)",
        )
    if main_address:
        parse_main_address(main_address)


@dataclass
class ShardingPick:
    """What configure_training recommends for a run that needs more than one GPU's memory."""

    sharding: Sharding
    gpus: int
    offload: bool
    per_gpu_gb: float
    why: str
    speed_cost: str


def _gathered_gb(need: MemoryNeed) -> float:
    """GB of weights a sharded step gathers: the weight bytes of the memory rule (frozen base + adapters)."""
    return need.weights_gb


def _traffic(need: MemoryNeed, gpus: int) -> tuple[float, knowledge.Constant]:
    """GB each GPU receives per micro-batch when the weights are sharded over ``gpus``: every layer is all-gathered
    for the forward and again for the backward (``sharded_weight_gathers_per_micro_batch``)."""
    row = knowledge.training().constant("sharded_weight_gathers_per_micro_batch")
    return row.value * _gathered_gb(need) * (gpus - 1) / gpus, row


def sharded_per_gpu(need: MemoryNeed, gpus: int) -> float:
    """GB per GPU with the weights (and their share of the overhead) split over ``gpus``; activations stay whole."""
    return (need.weights_gb + need.overhead_gb) / gpus + need.activations_gb


def pick_sharding(method: str, need: MemoryNeed, gpu_memory_gb: float, gpu_count: int | None) -> ShardingPick | None:
    """The mode for a plan that does not fit one GPU of ``gpu_memory_gb`` (None when it fits).

    LoRA: FSDP over the fewest GPUs that hold the sharded weights (QLoRA: DeepSpeed ZeRO-3, which shards 4-bit
    weights; FSDP here does not). When ``gpu_count`` GPUs are too few, ZeRO-3 with CPU offload on those."""
    if need.total_gb <= gpu_memory_gb:
        return None
    if need.activations_gb >= gpu_memory_gb:
        raise ToolError(
            "activations_exceed_gpu",
            f"the activations alone need about {need.activations_gb:.1f} GB, more than the {gpu_memory_gb:g} GB GPU; "
            "no sharding mode splits them",
            "shorten max_seq_len or the micro-batch, or turn on gradient checkpointing",
        )
    room = gpu_memory_gb - need.activations_gb
    gpus = max(2, math.ceil((need.weights_gb + need.overhead_gb) / room))
    mode: Sharding = "fsdp" if method == "lora" else "deepspeed_zero3"
    if gpu_count is not None and gpus > gpu_count:
        return _offloaded(need, gpu_memory_gb, max(1, gpu_count), gpus)
    traffic, row = _traffic(need, gpus)
    per_gpu = sharded_per_gpu(need, gpus)
    engine = "FSDP2" if mode == "fsdp" else "DeepSpeed ZeRO-3 (FSDP here does not shard 4-bit weights)"
    return ShardingPick(
        sharding=mode,
        gpus=gpus,
        offload=False,
        per_gpu_gb=round(per_gpu, 1),
        why=(
            f"about {need.total_gb:.1f} GB does not fit one {gpu_memory_gb:g} GB GPU; {engine} splits the "
            f"{need.weights_gb + need.overhead_gb:.1f} GB of weights and overhead over {gpus} GPUs: about "
            f"{per_gpu:.1f} GB each with {need.activations_gb:.1f} GB of activations"
        ),
        speed_cost=(
            f"each GPU receives about {traffic:.1f} GB per micro-batch ({row.value:g} all-gathers of its missing "
            f"weights: {row.note}); the added time per micro-batch is that over the interconnect's bandwidth, "
            "NVLink's far above PCIe's or the network's between nodes"
        ),
    )


def _offloaded(need: MemoryNeed, gpu_memory_gb: float, gpu_count: int, wanted: int) -> ShardingPick:
    row = knowledge.training().constant("sharded_weight_gathers_per_micro_batch")
    per_gpu = need.activations_gb + (need.overhead_gb / gpu_count)
    return ShardingPick(
        sharding="deepspeed_zero3",
        gpus=gpu_count,
        offload=True,
        per_gpu_gb=round(per_gpu, 1),
        why=(
            f"about {need.total_gb:.1f} GB does not fit one {gpu_memory_gb:g} GB GPU, and sharding it needs "
            f"{wanted} GPUs where {gpu_count} are available; DeepSpeed ZeRO-3 with CPU offload keeps the "
            f"{need.weights_gb:.1f} GB of weights and the optimizer state in CPU memory"
        ),
        speed_cost=(
            f"the weights cross PCIe every micro-batch (about {_gathered_gb(need) * row.value:.1f} GB: "
            f"{row.value:g} passes, {row.note}) and the optimizer step runs on the CPU: the slowest mode; "
            "measure a few steps before planning a long run"
        ),
    )


__all__ = [
    "DEEPSPEED",
    "SHARDINGS",
    "Sharding",
    "ShardingPick",
    "check_nodes",
    "parse_main_address",
    "pick_sharding",
    "sharded_per_gpu",
]
