"""The schema of ``reference/data/gpus.yaml``: GPU specs and hourly rental offers.

Also :func:`gpus`, the cached, validated file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Dated, Fact, load_facts


class Gpu(Fact):
    id: str
    name: str
    memory_gb: float
    bf16_dense_tflops: float | None


class GpuOffer(Dated):
    gpu: str
    vendor: str
    tier: str
    usd_per_gpu_hour: float
    gpus_per_instance: int = 1
    instance: str | None = None
    region: str | None = None


class GpusFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gpus: list[Gpu]
    offers: list[GpuOffer]

    @model_validator(mode="after")
    def _known_gpus(self) -> GpusFile:
        ids = {g.id for g in self.gpus}
        for i, offer in enumerate(self.offers):
            if offer.gpu not in ids:
                raise ValueError(f"offers[{i}]: unknown gpu {offer.gpu!r}")
        return self

    def gpu(self, gpu_id: str) -> Gpu:
        for g in self.gpus:
            if g.id == gpu_id:
                return g
        raise ToolError(
            "unknown_gpu", f"no GPU {gpu_id!r} in gpus.yaml", "known: " + ", ".join(g.id for g in self.gpus)
        )

    def offers_for(self, gpu_id: str) -> list[GpuOffer]:
        return sorted((o for o in self.offers if o.gpu == gpu_id), key=lambda o: o.usd_per_gpu_hour)


def gpus() -> GpusFile:
    return load_facts("gpus", GpusFile)
