"""`finetune demo --real-model` (`make demo-real`): the packaged Gemma 3 270M learns the house style with LoRA and
run_eval shows it on held-out tasks with p < 0.05. About 10 minutes on two CPU cores: marked real_model, skipped by
`make test`; run it with `.venv/bin/python -m pytest -m real_model`."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.real_model, pytest.mark.slow]


def test_lora_teaches_the_real_model_the_house_style(tmp_path: Path) -> None:
    from skill.demo_real import run_real_demo
    from tools.local_models import gemma

    if not (gemma.installed() or gemma.converted()):
        pytest.skip("the real-model extra is not installed (pip install 'finetune-skill[real-model]')")
    result = run_real_demo(tmp_path / "demo-real")
    run = result.sections[0]
    assert run.status == "ok", run.body
    assert result.style_base is not None and result.style_tuned is not None and result.p_value is not None
    assert result.style_tuned > result.style_base and result.p_value < 0.05, result.sections[-1].headline
    assert "McNemar p" in Path(result.report).read_text()
