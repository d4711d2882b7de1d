"""The schema of ``reference/data/gpus.yaml``: GPU specs and hourly rental offers.

Also :func:`gpus`, the cached, validated file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.core.errors import ToolError
from tools.knowledge.core import Dated, Expiry, Fact, LastKnown, load_facts


class Gpu(Fact):
    id: str
    name: str
    memory_gb: float
    bf16_dense_tflops: float | None


class GpuOffer(Dated):
    gpu: str
    vendor: str
    tier: str
    usd_per_gpu_hour: float | None = Field(description="null: not confirmed this time (see last_known)")
    last_known: LastKnown | None = None
    gpus_per_instance: int = 1
    instance: str | None = None
    region: str | None = None


class GpusFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expiry: list[Expiry] = []
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
        """Offers for one GPU, cheapest known first (offers without a confirmed price last)."""
        return sorted(
            (o for o in self.offers if o.gpu == gpu_id),
            key=lambda o: (o.usd_per_gpu_hour is None, o.usd_per_gpu_hour or 0.0),
        )


def gpus() -> GpusFile:
    return load_facts("gpus", GpusFile)
