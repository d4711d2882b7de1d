"""--model decides the rules: an open-weight model trains with TRL (its rules, its tokenizer when on disk, else a
labelled family approximation); an OpenAI id means OpenAI's; an unknown id keeps the format's default."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.format_samples import chat, write_jsonl
from tools.core import registry
from tools.core.workspace import Workspace
from tools.validate.models import ValidateResult


def validate(ws: Workspace, rows: list[Any], **kw: Any) -> ValidateResult:
    write_jsonl(ws.root / "d.jsonl", rows)
    r = registry.call("validate_jsonl", {"paths": ["d.jsonl"], "max_findings": 200, **kw}, workspace=ws)
    assert isinstance(r, ValidateResult)
    return r


def codes(r: ValidateResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in r.findings:
        out.setdefault(f.code, []).append(f.severity)
    return out


def test_open_weight_model_means_trl_rules_not_openai(ws: Workspace) -> None:
    rows = [dict(chat(i), id=i) for i in range(3)]  # an extra key and 3 examples: OpenAI rejects both
    openai = validate(ws, rows)
    assert codes(openai)["unknown_key"][0] == "error" and "too_few_examples" in codes(openai)
    qwen = validate(ws, rows, model="Qwen/Qwen2.5-7B-Instruct")
    assert qwen.files[0].target == "trl" and qwen.ok
    assert codes(qwen)["unknown_key"] == ["warning"] * 3 and "too_few_examples" not in codes(qwen)
    assert codes(qwen)["small_dataset"] == ["warning"]
    assert qwen.tokens is not None and qwen.tokens.approximate
    assert qwen.tokens.method.startswith("approx:cl100k_base (Qwen family")
    assert any("open-weight" in n and "TRL" in n for n in qwen.notes)
    assert any("not on disk" in n for n in qwen.notes)
    assert any("chat template not rendered" in n and "hf download" in n for n in qwen.notes)  # not on this machine
    assert qwen.tokens.billed == qwen.tokens.total  # no OpenAI per-message overhead for a TRL run
    unknown_family = validate(ws, rows, model="mistralai/Mistral-7B-Instruct-v0.3")
    assert unknown_family.tokens.method == "approx:o200k_base (no family approximation)"


def test_local_model_folder_uses_its_own_tokenizer(ws: Workspace) -> None:
    pytest.importorskip("transformers")
    from tools.local_models.tiny import build_tokenizer

    build_tokenizer().save_pretrained(ws.root / "my-model")  # one token per UTF-8 byte
    rows = [chat(i) for i in range(4)]
    r = validate(ws, rows, model="my-model")
    assert r.files[0].target == "trl" and r.tokens is not None and not r.tokens.approximate
    assert r.tokens.method == "hf:my-model"
    sizes = [sum(len(m["content"].encode()) for m in row["messages"]) for row in rows]
    assert (r.tokens.total.min, r.tokens.total.max) == (min(sizes), max(sizes))
    assert any("own tokenizer" in n for n in r.notes)


def test_a_local_model_renders_the_examples_with_its_chat_template(ws: Workspace) -> None:
    """The training engine's preflight, on validate: what is trained, the stop token, what max_seq_len cuts."""
    pytest.importorskip("transformers")
    from tools.local_models.tiny import build_model, build_tokenizer

    tok = build_tokenizer()
    build_model(0, tok).save_pretrained(ws.root / "my-model")
    tok.save_pretrained(ws.root / "my-model")
    r = validate(ws, [chat(i) for i in range(4)], model="my-model")
    [rendered] = [n for n in r.notes if "rendered 4 examples with the chat template" in n]
    assert "max_seq_len=2048" in rendered and "tokens trained" in rendered and "4 of 4 trained turns end" in rendered
    long = [{"messages": [{"role": "user", "content": "x" * 3000}, {"role": "assistant", "content": "y"}]}] * 3
    r = validate(ws, long, model="my-model")
    assert any("training would refuse this file (nothing_to_train)" in n for n in r.notes), r.notes


def test_openai_model_means_openai_rules(ws: Workspace) -> None:
    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(12)]
    assert validate(ws, rows).files[0].target == "trl"  # alpaca by itself: TRL
    r = validate(ws, rows, model="gpt-4.1-mini-2025-04-14")
    assert r.files[0].target == "openai" and "format_not_accepted" in codes(r)
    assert r.tokens is not None and r.tokens.method == "tiktoken:o200k_base" and not r.tokens.approximate


def test_unknown_model_keeps_the_format_default(ws: Workspace) -> None:
    r = validate(ws, [chat(i) for i in range(12)], model="claude-sonnet-4")
    assert r.files[0].target == "openai" and r.tokens is not None and r.tokens.approximate
