"""The packaged Gemma 3 270M, trained for a few steps, exports to a merged folder whose greedy answers equal the
adapter's on its base. Needs the real-model extra and minutes of CPU: marked real_model, skipped by `make test`;
run with `.venv/bin/python -m pytest -m real_model`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.run_wait import wait_for_run
from tools.core import registry
from tools.core.workspace import Workspace

pytestmark = [pytest.mark.real_model, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_packaged_real_model_exports_with_parity(tmp_path: Path) -> None:
    from tools.local_models import gemma

    if not (gemma.installed() or gemma.converted()):
        pytest.skip("the real-model extra is not installed (pip install 'finetune-skill[real-model]')")
    for name in ("style_train.jsonl", "style_eval.jsonl"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    ws = Workspace(tmp_path)
    args = {
        "data": "style_train.jsonl",
        "eval_data": "style_eval.jsonl",
        "model": gemma.GEMMA_ID,
        "max_steps": 3,
        "per_device_batch_size": 1,
        "gradient_accumulation_steps": 1,
        "plan": {"eval_steps": 3, "save_steps": 3},
        "confirm": True,
    }
    run_id = registry.call("launch_lora", args, workspace=ws).run_id
    info = wait_for_run(ws, run_id, lambda i: i.state in {"completed", "failed", "stopped"}, timeout=1200)
    assert info.state == "completed", info
    out = registry.call(
        "export_model",
        {"run_id": run_id, "to": "merged", "parity_prompts": 2, "max_new_tokens": 16},
        workspace=ws,
    )
    assert out.parity.ran and out.parity.verdict == "pass", out.parity.message
    assert out.parity.exact_prompts == 2 and out.parity.template_matches and out.parity.stop_tokens_match
    assert (tmp_path / out.out_dir / "model.safetensors").is_file()
