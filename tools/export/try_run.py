"""try_run: the person's own prompt, answered by a run's base model and by its fine-tune, side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tools.core.registry import tool
from tools.core.workspace import current
from tools.export.facts import export_facts
from tools.export.models import TryRunRequest, TryRunResult
from tools.export.parity import device
from tools.export.source import RunSource, load_reference, load_tokenizer, open_run, stop_token_ids

_LOADED: dict[tuple[str, float], tuple[Any, Any, list[int]]] = {}
"""(adapter folder, its mtime) -> (model with adapter, tokenizer, stop ids): the playground asks many prompts in one
process, so the run is loaded once. One run at a time is kept."""


def _loaded(src: RunSource) -> tuple[Any, Any, list[int]]:
    key = (str(src.adapter), (src.adapter / "adapter_model.safetensors").stat().st_mtime)
    if key not in _LOADED:
        _LOADED.clear()
        tok = load_tokenizer(src)
        model = load_reference(src, tok, src.precision).to(device())
        _LOADED[key] = (model, tok, stop_token_ids(src, tok))
    return _LOADED[key]


def _answer(model: Any, tok: Any, stops: list[int], messages: list[dict[str, str]], max_new: int) -> tuple[str, int]:
    import torch

    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]], device=model.device)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            eos_token_id=stops,
            pad_token_id=tok.pad_token_id,
        )
    new = out[0, ids.shape[1] :].tolist()
    return tok.decode(new, skip_special_tokens=True).strip(), len(new)


@tool(effect="read", stage="export", duration="seconds")
def try_run(req: TryRunRequest) -> TryRunResult:
    """Answer one prompt with a finished local run's base model and with its fine-tune (the adapter on that base),
    greedily, so a person can compare them side by side before exporting (`finetune try RUN` is the interactive
    playground). Reads the run folder and writes nothing; the models stay loaded between calls in one process.
    For a measured comparison on a held-out set use run_eval instead."""
    started = time.perf_counter()
    src = open_run(current(), req.run_id)
    model, tok, stops = _loaded(src)
    messages = ([{"role": "system", "content": req.system}] if req.system else []) + [
        {"role": "user", "content": req.prompt}
    ]
    max_new = req.max_new_tokens or export_facts().playground.max_new_tokens.value
    with model.disable_adapter():
        base, base_n = _answer(model, tok, stops, messages, max_new)
    tuned, tuned_n = _answer(model, tok, stops, messages, max_new)
    return TryRunResult(
        run_id=src.run_id,
        base_model=src.base_model,
        prompt=req.prompt,
        base_answer=base,
        fine_tuned_answer=tuned,
        base_tokens=base_n,
        fine_tuned_tokens=tuned_n,
        same=base == tuned,
        seconds=round(time.perf_counter() - started, 2),
        note=f"greedy, at most {max_new} new tokens, {src.precision} on {model.device.type}; base = the adapter "
        f"switched off on the same weights ({Path(src.adapter).name}/ of run {src.run_id})",
    )


__all__ = ["TryRunRequest", "TryRunResult", "try_run"]
