"""The precision rule for a QLoRA run.

QLoRA needs CUDA, so its run is the trained tiny run with its plan marked QLoRA (the run contract: config.json's
plan.method); every decision below is taken before a model is loaded, from that contract alone.
"""

from __future__ import annotations

import json
import shlex
import shutil

import pytest

from tests.support.export_run import TrainedRun
from tools.core import registry
from tools.core.errors import ToolError

pytestmark = pytest.mark.slow


@pytest.fixture
def qlora_run(trained: TrainedRun) -> str:
    run_id = "qlora-copy"
    folder = trained.ws.root / "runs" / run_id
    if not folder.is_dir():
        shutil.copytree(trained.folder, folder, ignore=shutil.ignore_patterns("checkpoint-*"))
        config = json.loads((folder / "config.json").read_text())
        config["plan"]["method"] = "qlora"
        config["resolved"]["precision"] = "bf16"
        (folder / "config.json").write_text(json.dumps(config))
    return run_id


def test_a_qlora_adapter_merged_into_a_16_bit_base_is_refused(trained: TrainedRun, qlora_run: str) -> None:
    for target in ("merged", "gguf", "ollama"):
        with pytest.raises(ToolError) as exc:
            registry.call("export_model", {"run_id": qlora_run, "to": target}, workspace=trained.ws)
        assert exc.value.code == "precision_change_refused", target
        assert "4-bit NF4" in exc.value.message and "--quantization bitsandbytes" in exc.value.hint


def test_a_qlora_adapter_is_served_on_a_4_bit_base_by_vllm(trained: TrainedRun, qlora_run: str) -> None:
    out = registry.call(
        "export_model", {"run_id": qlora_run, "to": "vllm", "out_dir": "exports/qlora-vllm"}, workspace=trained.ws
    )
    assert not out.precision_changed and out.training_precision.startswith("nf4")
    argv = shlex.split((trained.ws.root / out.out_dir / "serve.sh").read_text().splitlines()[-1])
    assert argv[argv.index("--quantization") + 1] == "bitsandbytes" and argv[argv.index("--dtype") + 1] == "bfloat16"
