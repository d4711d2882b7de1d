"""A GGUF llama.cpp can load: a tiny Llama with a SentencePiece tokenizer (trained here in a second, offline) goes
through the stock converter, no fallback, and its GGUF carries a vocabulary with scores that transformers rebuilds.

The run folder is made by hand to the run contract (config.json with the plan and resolved precision, status.json,
adapter/ written by peft with the tokenizer and its chat template): training is launch_lora's test's business, and
this base is a model folder, not the built-in tiny model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.workspace import Workspace
from tools.local_models.tiny import CHATML_TEMPLATE

pytestmark = pytest.mark.slow

TEXT = (
    "Where is my order? It ships on Monday. LoRA adapters fine tune a model. Numbers 0123456789 and !?,.;:\n"
    "Your refund is on its way. Thanks for waiting - Juniper Support.\n"
) * 40


def _sentencepiece_base(folder: Path, template: str) -> None:
    import sentencepiece as spm
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    folder.mkdir()
    (folder.parent / "spm.txt").write_text(TEXT)
    spm.SentencePieceTrainer.train(
        input=str(folder.parent / "spm.txt"), model_prefix=str(folder / "tokenizer"), vocab_size=400,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        hard_vocab_limit=False, minloglevel=2,
    )  # fmt: skip
    (folder / "tokenizer.vocab").unlink()
    tok = LlamaTokenizer.from_pretrained(str(folder))
    tok.chat_template = template
    tok.save_pretrained(str(folder))
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(folder))


def _run(ws: Workspace, base: Path) -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_id = "20261204-000000-spm-tiny-0001"
    folder = ws.root / "runs" / run_id
    tok = AutoTokenizer.from_pretrained(str(base))
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(base)),
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    model.save_pretrained(str(folder / "adapter"))
    tok.save_pretrained(str(folder / "adapter"))
    plan = {"base_model": str(base), "lora_r": 8, "lora_alpha": 16, "seed": 1, "max_steps": 1}
    eval_path = ws.root / "eval.jsonl"
    config = {"run_id": run_id, "kind": "local_lora", "plan": plan, "resolved": {"precision": "fp32"},
              "eval_data": {"path": str(eval_path), "label": "eval.jsonl", "sha256": "0" * 64}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text(json.dumps({"run_id": run_id, "state": "completed", "precision": "fp32"}))
    return run_id


WITH_BOS = "{{ bos_token }}" + CHATML_TEMPLATE.replace("'<|im_end|>'", "'<|im_end|>' + eos_token")
"""ChatML closed by the tokenizer's EOS, opened with its BOS as Llama templates are."""


def _export(ws: Workspace, template: str) -> tuple[object, Path]:
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "It ships on Monday."}]}
        for q in ("Where is my order?", "Is my refund on its way?", "Thanks for waiting!")
    ]
    (ws.root / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ws.root / "models" / "spm-tiny"
    base.parent.mkdir()
    _sentencepiece_base(base, template)
    run_id = _run(ws, base)
    out = registry.call(
        "export_model", {"run_id": run_id, "to": "gguf", "parity_prompts": 3, "max_new_tokens": 12}, workspace=ws
    )
    return out, base


def test_a_sentencepiece_model_converts_with_the_stock_converter(ws: Workspace) -> None:
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    out, base = _export(ws, WITH_BOS)
    assert not any("no merges" in n or "will not load" in n for n in out.notes), out.notes
    folder = ws.root / out.out_dir
    log = (folder / "convert.log").read_text()
    assert "finetune-export: unknown BPE pre-tokenizer" not in log  # the stock converter, no fallback
    gguf = next(folder / Path(f.path).name for f in out.files if f.path.endswith(".gguf"))
    reader = GGUFReader(str(gguf))
    assert reader.fields["tokenizer.ggml.model"].contents() == "llama"
    assert len(reader.fields["tokenizer.ggml.scores"].contents()) == 400
    assert "tokenizer.ggml.add_bos_token" not in reader.fields  # llama.cpp's SentencePiece default: add BOS
    rebuilt = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name)  # what llama.cpp reads
    original = AutoTokenizer.from_pretrained(str(base))
    text = "Where is my order?"
    assert rebuilt(text, add_special_tokens=False)["input_ids"] == original(text, add_special_tokens=False)["input_ids"]
    assert out.parity.verdict == "pass" and out.parity.template_matches and out.parity.stop_tokens_match


def test_a_bos_llama_cpp_adds_but_training_never_saw_is_caught(ws: Workspace) -> None:
    """llama.cpp prepends BOS when the GGUF says add_bos_token; a template without it trained without it."""
    out, _ = _export(ws, CHATML_TEMPLATE.replace("'<|im_end|>'", "'<|im_end|>' + eos_token"))
    p = out.parity
    assert p.verdict == "fail" and p.likely_cause == "template" and p.template_matches is False
    assert "BOS" in p.cause_detail and "add_bos_token" in p.cause_detail
