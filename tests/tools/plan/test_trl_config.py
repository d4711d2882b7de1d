"""The TRL config rendered from a plan: the batching keys TRL accepts, and Liger only where it was measured."""

from __future__ import annotations

import pytest

from tools.plan import trl_config
from tools.plan.training_plan import TrainingPlan


def _cfg(plan: TrainingPlan, *, device: str = "cpu", for_run: bool = True) -> dict:
    return trl_config.trl_config(
        plan,
        objective="sft",
        dataset="d.jsonl",
        output_dir="out",
        precision="bf16" if device == "cuda" else "fp32",
        device=device,
        has_eval=False,
        for_run=for_run,
    )


def test_packed_is_padding_free_in_a_run_and_bfd_packing_when_exported() -> None:
    plan = TrainingPlan(base_model="tiny-random-llama", batching="packed")
    run = _cfg(plan)
    assert (run["padding_free"], run["packing"], run["max_length"]) == (True, False, None)
    exported = _cfg(plan, for_run=False)
    assert exported["packing"] is True and exported["packing_strategy"] == "bfd"
    assert exported["max_length"] == plan.max_seq_len
    grouped = _cfg(TrainingPlan(base_model="tiny-random-llama", batching="length_grouped"))
    assert grouped["padding_free"] is False and grouped["max_length"] == plan.max_seq_len


@pytest.mark.parametrize(
    ("device", "installed", "expected"), [("cuda", True, True), ("cuda", False, None), ("cpu", True, None)]
)
def test_liger_kernels_only_on_cuda_when_installed(
    monkeypatch: pytest.MonkeyPatch, device: str, installed: bool, expected: bool | None
) -> None:
    monkeypatch.setattr(trl_config, "liger_installed", lambda: installed)
    cfg = _cfg(TrainingPlan(base_model="tiny-random-llama"), device=device)
    assert cfg.get("use_liger_kernel") == expected
