"""Eval items and generation for run_eval: read an eval set, build prompts, generate greedily in batches.

- Items come from any dataset format :func:`tools.data.formats.read_conversations` reads: the prompt is the
  conversation up to its last assistant turn, the reference is that turn.
- Local models (a folder, a cached Hugging Face id, or ``tiny-random-llama``) are loaded once per
  (model, seed); an adapter is put on top with peft *after* the plain model has generated, so a base and
  its fine-tune share one copy of the weights.
- Generation is greedy (no sampling), batched with left padding, prompts sorted by length, seeded: the
  same inputs give the same outputs. Prompts longer than ``max_prompt_tokens`` keep their end.

Heavy imports (torch, transformers, peft) stay inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError
from tools.data.formats import Conversation, read_conversations

PREDICTION_KEYS = ("prediction", "output", "completion", "response", "generation", "answer", "text")


@dataclass
class EvalItem:
    index: int
    line: int
    messages: list[dict[str, Any]]  # the prompt: every turn before the reference answer
    reference: str


def _msg_text(m: Any) -> str:
    content = m.content or ""
    if m.tool_calls:
        calls = [{"name": c.name, "arguments": c.arguments} for c in m.tool_calls]
        content = (content + "\n" if content else "") + json.dumps(calls, ensure_ascii=False)
    return content


def item_from(conv: Conversation, index: int, line: int) -> EvalItem | None:
    last = max((i for i, m in enumerate(conv.messages) if m.role == "assistant"), default=None)
    if last is None or last == 0:
        return None
    msgs = [{"role": m.role, "content": _msg_text(m)} for m in conv.messages[:last]]
    return EvalItem(index, line, msgs, _msg_text(conv.messages[last]))


def read_items(path: Path, label: str) -> tuple[list[EvalItem], list[int], str | None]:
    """(items, unusable line numbers, format) of an eval set."""
    items: list[EvalItem] = []
    skipped: list[int] = []
    fmt = None
    for rec in read_conversations(path):
        fmt = fmt or rec.format
        item = item_from(rec.conversation, len(items), rec.line) if rec.conversation is not None else None
        if item is None:
            skipped.append(rec.line)
        else:
            items.append(item)
    if not items:
        raise ToolError(
            "no_eval_items",
            f"{label}: no usable eval items ({len(skipped)} lines without a prompt and an assistant answer)",
            "each line needs at least one user turn followed by an assistant answer (the reference); run "
            "validate_jsonl",
        )
    return items, skipped, fmt


def read_predictions(path: Path, label: str, n: int) -> list[str]:
    """Predictions, one per line in eval-set order: a string field (prediction/output/...) or a chat line's last
    assistant turn."""
    preds: list[str] = []
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (RecursionError, ValueError) as exc:
            raise ToolError(
                "predictions_invalid",
                f"{label} line {number}: not JSON ({getattr(exc, 'msg', 'nested too deeply or a number too long')})",
                "write one JSON object per line with a 'prediction' string",
            ) from None
        text = None
        if isinstance(obj, str):
            text = obj
        elif isinstance(obj, dict):
            text = next((obj[k] for k in PREDICTION_KEYS if isinstance(obj.get(k), str)), None)
            if text is None and isinstance(obj.get("messages"), list):
                answers = [
                    m.get("content") for m in obj["messages"] if isinstance(m, dict) and m.get("role") == "assistant"
                ]
                text = answers[-1] if answers and isinstance(answers[-1], str) else None
        if text is None:
            raise ToolError(
                "predictions_invalid",
                f"{label} line {number}: no prediction text",
                f"give one of the keys {', '.join(PREDICTION_KEYS)}, or a chat line whose last assistant turn is the "
                f"output",
            )
        preds.append(text)
    if len(preds) < n:
        raise ToolError(
            "predictions_short",
            f"{label} has {len(preds)} predictions for {n} eval items",
            "predictions are matched to eval items by order; write one per eval item",
        )
    return preds[:n]


# ----------------------------------------------------------------------------- local models


@dataclass
class LocalModel:
    model: Any
    tokenizer: Any
    device: str
    adapter: str | None = None


def load_local(name: str, seed: int) -> LocalModel:
    """A local model by name (tools.local_models.loader: a folder, the HF cache, the packaged Gemma, the tiny model)
    with the chat template it trains with."""
    import torch

    from tools.core.workspace import current
    from tools.local_models.loader import load_causal_lm, load_tokenizer, resolve_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ref = resolve_model(name, current().root)
    tok = load_tokenizer(ref)
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    model = load_causal_lm(ref, dtype=dtype, seed=seed, tokenizer=tok)
    model.to(device).eval()
    return LocalModel(model, tok, device)


def add_adapter(local: LocalModel, adapter_dir: Path) -> LocalModel:
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise ToolError(
            "adapter_missing",
            f"{adapter_dir} has no adapter_config.json",
            "point at the adapter folder save_pretrained wrote (runs/<id>/adapter once the run completed)",
        )
    model = PeftModel.from_pretrained(local.model, str(adapter_dir))
    model.eval()
    return LocalModel(model, local.tokenizer, local.device, str(adapter_dir))


def chat_prompt(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate(
    local: LocalModel,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    max_prompt_tokens: int,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy continuations of rendered prompts, in input order."""
    import torch

    tok, model = local.tokenizer, local.model
    from tools.local_models.render import encode
    from tools.local_models.templates import strip_text_end_marker

    encoded = [list(encode(tok, p)["input_ids"])[-max_prompt_tokens:] for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
    outputs: list[str] = [""] * len(encoded)
    pad = tok.pad_token_id
    torch.manual_seed(seed)
    done = 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, i in enumerate(chunk):
                seq = encoded[i]
                if seq:
                    ids[r, width - len(seq) :] = torch.tensor(seq)
                    mask[r, width - len(seq) :] = 1
            out = model.generate(
                input_ids=ids.to(local.device),
                attention_mask=mask.to(local.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=pad,
                eos_token_id=tok.eos_token_id,
            )
            for r, i in enumerate(chunk):
                text = tok.decode(out[r, width:].tolist(), skip_special_tokens=True)
                outputs[i] = strip_text_end_marker(tok, text).strip()
            done += len(chunk)
            if progress:
                progress(done)
    return outputs


__all__ = [
    "EvalItem",
    "LocalModel",
    "add_adapter",
    "chat_prompt",
    "generate",
    "item_from",
    "load_local",
    "read_items",
    "read_predictions",
]


# ----------------------------------------------------------------------------- API models


def api_backend(provider: str, model: str | None, base_url: str | None) -> Any:
    """An anthropic or openai (or OpenAI-compatible base_url) backend from tools.llm; keys come from the environment."""
    if provider == "anthropic":
        from tools.llm.anthropic_backend import AnthropicBackend

        return AnthropicBackend(model, base_url=base_url)
    from tools.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(model, base_url=base_url)


def api_generate(
    backend: Any, prompts: Sequence[list[dict[str, Any]]], *, max_new_tokens: int
) -> tuple[list[str], float | None]:
    """One request per prompt (system prompt apart, tool turns as user text); (outputs, total cost in USD or None)."""
    from tools.llm.base import AssistantMessage, UserMessage

    outputs: list[str] = []
    cost: float | None = 0.0
    for msgs in prompts:
        system = "\n".join(m["content"] for m in msgs if m["role"] == "system")
        history: list[Any] = []
        for m in msgs:
            if m["role"] == "assistant":
                history.append(AssistantMessage(text=m["content"]))
            elif m["role"] != "system":
                history.append(UserMessage(text=m["content"]))
        turn = backend.complete(history, system=system, max_tokens=max_new_tokens)
        outputs.append(turn.text.strip())
        cost = None if cost is None or turn.cost_usd is None else cost + turn.cost_usd
    return outputs, cost
