"""One real run for the export tests: the built-in tiny model trained by launch_lora (its own worker process) on
the sample project, once per test session, in a workspace the tests share. Each export writes a new folder."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

TRAIN = {
    "data": "train.jsonl",
    "eval_data": "eval.jsonl",
    "model": "tiny-random-llama",
    "max_steps": 10,
    "per_device_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 768,
    "seed": 7,
    "plan": {"eval_steps": 10, "save_steps": 10},
    "confirm": True,
}
"""Small enough for two loaded CPU cores; enough steps for the adapter to change the outputs."""

FAST_PARITY = {"parity_prompts": 3, "max_new_tokens": 12}


@dataclass(frozen=True)
class TrainedRun:
    ws: Workspace
    run_id: str

    @property
    def folder(self) -> Path:
        return self.ws.root / "runs" / self.run_id


_RUN: list[TrainedRun] = []


def trained_run(factory: pytest.TempPathFactory) -> TrainedRun:
    """The session's trained tiny run (trained on first use)."""
    if _RUN:
        return _RUN[0]
    root = factory.mktemp("export-ws")
    for name in ("train.jsonl", "eval.jsonl"):
        shutil.copy(EXAMPLES / name, root / name)
    ws = Workspace(root)
    out = registry.call("launch_lora", TRAIN, workspace=ws)
    info = wait_for_run(ws, out.run_id, lambda i: i.state in {"completed", "failed", "stopped"}, timeout=900)
    assert info.state == "completed", info
    _RUN.append(TrainedRun(ws, out.run_id))
    return _RUN[0]


def export(run: TrainedRun, to: str, **args: object) -> object:
    return registry.call("export_model", {"run_id": run.run_id, "to": to, **FAST_PARITY, **args}, workspace=run.ws)
