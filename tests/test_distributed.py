"""More than one process through `accelerate launch` (DDP over gloo on CPU): one adapter, disjoint data per rank."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tools import registry
from tools.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"


def test_two_cpu_processes_train_one_adapter_on_different_data(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLES, ws.root / "train.jsonl")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    common = {"data": "train.jsonl", "model": "tiny-random-llama", "per_device_batch_size": 2, "max_seq_len": 512,
              "max_steps": 4, "seed": 3, "plan": {"lora_dropout": 0.0}, "confirm": True}
    dry = registry.call("launch_lora", {**common, "gradient_accumulation_steps": 1, "num_processes": 2,
                                        "confirm": False}, workspace=ws)
    assert dry.estimated_steps == 4 and not dry.started
    out = registry.call("launch_lora", {**common, "gradient_accumulation_steps": 1, "num_processes": 2,
                                        "run_name": "ddp"}, workspace=ws)
    folder = ws.root / out.folder
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        info = registry.call("run_status", {"run_id": out.run_id}, workspace=ws).runs[0]
        if info.state not in {"queued", "running"}:
            break
        time.sleep(1)
    log = (folder / "train.log").read_text()
    assert info.state == "completed", log[-4000:]
    assert "accelerate.commands.launch" in log and "--num_processes 2" in log

    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "completed" and status["step"] == 4
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()
    assert [p.name for p in folder.iterdir() if p.name.startswith("adapter")] == ["adapter"]
    config = json.loads((folder / "config.json").read_text())
    assert config["resolved"]["num_processes"] == 2
    ranks = [json.loads((folder / "ranks" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    seen = [{i for batch in r["micro_batches"] for i in batch} for r in ranks]
    assert all(len(r["micro_batches"]) == 4 for r in ranks)
    assert seen[0] and seen[1] and not seen[0] & seen[1], "both ranks trained on the same examples"
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert rows and rows[-1]["step"] == 4 and all(r["loss"] == r["loss"] for r in rows)  # one writer, finite losses

    # The same global batch in one process (2 micro-batches accumulated) reaches the same adapter: rank r took
    # micro-batch 2*step + r, one process takes 2*step and 2*step + 1, and the loss is the per-token mean of both.
    from safetensors.torch import load_file

    from tools.train_worker import run_folder

    single = registry.call("launch_lora", {**common, "gradient_accumulation_steps": 2, "run_name": "one"}, workspace=ws)
    run_folder(ws.root / single.folder)
    a = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(ws.root / single.folder / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert max(v.abs().max().item() for k, v in a.items() if "lora_B" in k) > 1e-4  # it did train
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-4, key
