"""try_run: one prompt answered by the run's base model and by its fine-tune, each checked against generating
independently with transformers (the base rebuilt from its seed; the adapter put on it with peft)."""

from __future__ import annotations

import pytest

from tests.support.documents import assert_document_renders
from tests.support.export_run import TrainedRun
from tools.core import registry
from tools.core.errors import ToolError

pytestmark = pytest.mark.slow

PROMPT = "hey any update on JO-674019?? need it before my trip"


def _greedy(model, tok, max_new: int) -> str:  # noqa: ANN001
    import torch

    text = tok.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=[tok.eos_token_id], pad_token_id=tok.pad_token_id)  # fmt: skip
    return tok.decode(out[0, ids.shape[1] :].tolist(), skip_special_tokens=True).strip()


def test_base_and_fine_tuned_answers_are_the_two_models(trained: TrainedRun) -> None:
    from peft import PeftModel
    from transformers import AutoTokenizer

    from tools.local_models.tiny import build_model

    out = registry.call(
        "try_run", {"run_id": trained.run_id, "prompt": PROMPT, "max_new_tokens": 16}, workspace=trained.ws
    )
    tok = AutoTokenizer.from_pretrained(str(trained.folder / "adapter"))
    base = build_model(7, tok).eval()
    assert out.base_answer == _greedy(base, tok, 16)
    tuned = PeftModel.from_pretrained(build_model(7, tok), str(trained.folder / "adapter")).eval()
    assert out.fine_tuned_answer == _greedy(tuned, tok, 16)
    assert out.same == (out.base_answer == out.fine_tuned_answer) and not out.same
    assert 0 < out.fine_tuned_tokens <= 16 and "greedy" in out.note
    assert_document_renders(trained.ws, "try_run", out)


def test_an_unknown_run_is_refused(trained: TrainedRun) -> None:
    with pytest.raises(ToolError) as exc:
        registry.call("try_run", {"run_id": "nope", "prompt": "hi"}, workspace=trained.ws)
    assert exc.value.code == "unknown_run"
