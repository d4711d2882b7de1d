"""export_model on a real run (the tiny model trained by launch_lora): every target this machine can build, the
parity check, the precision rule, and the refusals."""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.documents import assert_document_renders
from tests.support.export_run import TrainedRun, export
from tests.support.llm_stub import LLMStub, openai_completion
from tools.core import registry
from tools.core.errors import ToolError

pytestmark = pytest.mark.slow


def _files(out: object) -> dict[str, int]:
    return {Path(f.path).name: f.bytes for f in out.files}  # type: ignore[attr-defined]


def test_merged_export_keeps_everything_and_matches_the_adapter_exactly(trained: TrainedRun) -> None:
    from safetensors import safe_open
    from transformers import AutoTokenizer

    out = export(trained, "merged", out_dir="exports/merged")
    folder = trained.ws.root / out.out_dir
    names = _files(out)
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "README.md"} <= set(names)
    assert out.training_precision == out.export_precision == "fp32" and not out.precision_changed
    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        assert not any("lora" in k for k in fh.keys())  # merged: no adapter tensors left
        assert fh.get_tensor("model.layers.0.self_attn.q_proj.weight").dtype.is_floating_point
    tok = AutoTokenizer.from_pretrained(str(folder))
    adapter_tok = AutoTokenizer.from_pretrained(str(trained.folder / "adapter"))
    assert tok.chat_template == adapter_tok.chat_template
    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen["eos_token_id"] == adapter_tok.convert_tokens_to_ids("<|im_end|>")
    p = out.parity
    assert p.ran and p.engine == "transformers" and p.verdict == "pass" and p.gate == "exact"
    assert p.exact_prompts == p.prompts == 3 and p.token_agreement == 1.0 and p.first_divergence is None
    assert p.template_matches and p.stop_tokens_match
    rows = [json.loads(x) for x in (trained.ws.root / p.samples).read_text().splitlines()]
    assert len(rows) == 3 and all(r["identical"] and r["reference"]["tokens"] for r in rows)
    card = (folder / "README.md").read_text()
    config = json.loads((trained.folder / "config.json").read_text())
    assert config["data"]["sha256"] in card and "parity pass" in card and "same precision as training" in card
    assert "not evaluated with run_eval" in card
    assert_document_renders(trained.ws, "export_model", out)


def test_the_adapter_really_changed_the_model(trained: TrainedRun) -> None:
    """Parity passing is meaningful only if the merge matters: the merged weights differ from the base."""
    from safetensors.torch import load_file

    from tools.local_models.tiny import build_model, build_tokenizer

    folder = trained.ws.root / "exports" / "merged"
    if not folder.is_dir():
        export(trained, "merged", out_dir="exports/merged")
    merged = load_file(str(folder / "model.safetensors"))
    base = build_model(7, build_tokenizer()).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert (merged[key] - base[key]).abs().max() > 1e-4


def test_gguf_export_uses_llama_cpp_s_converter_and_passes_parity(trained: TrainedRun) -> None:
    from gguf import GGUFReader

    out = export(trained, "gguf")
    assert out.out_dir.endswith("gguf-f32") and out.export_precision == "f32" and not out.precision_changed
    gguf = next(trained.ws.root / f.path for f in out.files if f.path.endswith(".gguf"))
    reader = GGUFReader(str(gguf))
    assert {t.tensor_type.name for t in reader.tensors} == {"F32"}
    assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == 258
    assert "<|im_start|>" in reader.fields["tokenizer.chat_template"].contents()
    assert out.parity.verdict == "pass" and out.parity.exact_prompts == 3 and out.parity.engine == "transformers"
    notes = " ".join(out.notes)
    assert "will not load in llama.cpp or Ollama" in notes and "no merges" in notes
    assert "not llama.cpp" in notes and "llama-cpp-python is not installed" in notes
    assert "will not load in llama.cpp" in out.message
    assert (trained.ws.root / out.out_dir / "convert.log").is_file()


def test_a_quantised_gguf_is_refused_without_the_flag(trained: TrainedRun) -> None:
    for quant in ("q8_0", "Q4_K_M", "f16"):
        with pytest.raises(ToolError) as exc:
            export(trained, "gguf", quant=quant)
        assert exc.value.code == "precision_change_refused"
        assert "trained in fp32" in exc.value.message and "--allow-precision-change" in exc.value.hint
    assert not (trained.ws.root / "exports" / trained.run_id / "gguf-Q4_K_M").exists()


def test_an_allowed_precision_change_records_the_parity_result(trained: TrainedRun) -> None:
    out = export(trained, "gguf", quant="q4_k_m", allow_precision_change=True)
    assert out.precision_changed and out.export_precision == "Q4_K_M"
    p = out.parity
    assert p.ran and p.gate == "report" and p.verdict in {"reported"} and p.template_matches and p.stop_tokens_match
    assert p.token_agreement is not None and 0 <= p.token_agreement <= 1
    card = (trained.ws.root / out.model_card).read_text()
    assert "precision changed with --allow-precision-change" in card and p.message.split(";")[0] in card
    assert any("fallback type for" in n for n in out.notes)  # llama.cpp's own count: rows of 64 are no K-quant
    assert_document_renders(trained.ws, "export_model", out)
    assert out.document().headline.endswith("parity reported")


def test_a_precision_change_needs_the_parity_check(trained: TrainedRun) -> None:
    with pytest.raises(ToolError) as exc:
        export(trained, "gguf", quant="q8_0", allow_precision_change=True, parity=False)
    assert exc.value.code == "parity_required"


def test_vllm_adapter_export_writes_a_command_and_a_client_that_work(trained: TrainedRun) -> None:
    out = export(trained, "vllm", model_name="support-bot")
    folder = trained.ws.root / out.out_dir
    argv = shlex.split((folder / "serve.sh").read_text().splitlines()[-1])
    assert argv[:4] == ["exec", "vllm", "serve", "./base"]
    assert "--enable-lora" in argv and argv[argv.index("--lora-modules") + 1] == "support-bot=./adapter"
    assert argv[argv.index("--max-lora-rank") + 1] == "16" and argv[argv.index("--dtype") + 1] == "float32"
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() and (folder / "base" / "config.json").is_file()
    assert (folder / argv[argv.index("--chat-template") + 1]).read_text() == (
        trained.folder / "adapter" / "chat_template.jinja"
    ).read_text()
    assert out.parity.verdict == "skipped" and "as trained" in out.parity.skipped_reason
    client = (folder / "client.py").read_text()
    ast.parse(client)
    with LLMStub() as stub:
        stub.reply(openai_completion("Hello from the stub", model="support-bot"))
        env = {**os.environ, "VLLM_BASE_URL": stub.url + "/v1", "VLLM_API_KEY": "EMPTY"}
        proc = subprocess.run([sys.executable, str(folder / "client.py")], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "Hello from the stub" in proc.stdout
        body = stub.requests[0].body
    assert body["model"] == "support-bot" and body["temperature"] == 0 and body["stop_token_ids"] == [258]


def test_vllm_merged_export_serves_the_merged_folder(trained: TrainedRun) -> None:
    out = export(trained, "vllm", vllm_mode="merged", model_name="support-bot")
    folder = trained.ws.root / out.out_dir
    argv = shlex.split((folder / "serve.sh").read_text().splitlines()[-1])
    assert argv[3] == "./merged" and argv[argv.index("--served-model-name") + 1] == "support-bot"
    assert (folder / "merged" / "model.safetensors").is_file()
    assert out.parity.verdict == "pass" and out.parity.exact_prompts == 3


def test_vllm_at_another_dtype_is_a_precision_change(trained: TrainedRun) -> None:
    with pytest.raises(ToolError) as exc:
        export(trained, "vllm", serve_dtype="bfloat16")
    assert exc.value.code == "precision_change_refused"


def test_exports_never_overwrite_and_bad_requests_are_clear(trained: TrainedRun) -> None:
    (trained.ws.root / "exports" / "taken").mkdir(parents=True)
    cases = [
        ({"to": "merged", "out_dir": "exports/taken"}, "export_exists"),
        ({"to": "gguf", "quant": "q3_fancy"}, "unknown_quant"),
        ({"to": "merged", "quant": "q8_0"}, "unsupported_option"),
        ({"to": "merged", "out_dir": ".finetune/x"}, "output_in_state_dir"),
        ({"to": "merged", "parity_data": "missing.jsonl"}, "file_not_found"),
    ]
    for args, code in cases:
        with pytest.raises(ToolError) as exc:
            registry.call("export_model", {"run_id": trained.run_id, **args}, workspace=trained.ws)
        assert exc.value.code == code, (args, exc.value)
    with pytest.raises(ToolError) as exc:
        registry.call("export_model", {"run_id": "nope", "to": "merged"}, workspace=trained.ws)
    assert exc.value.code == "unknown_run"


def test_a_run_still_training_or_without_adapter_is_refused(trained: TrainedRun) -> None:
    from tools.train.runs import update_status

    copy = trained.ws.root / "runs" / "copy-run"
    shutil.copytree(trained.folder, copy, ignore=shutil.ignore_patterns("adapter", "checkpoint-*"))
    with pytest.raises(ToolError) as exc:
        registry.call("export_model", {"run_id": "copy-run", "to": "merged"}, workspace=trained.ws)
    assert exc.value.code == "adapter_missing"
    update_status(copy, state="running")
    with pytest.raises(ToolError) as exc:
        registry.call("export_model", {"run_id": "copy-run", "to": "merged"}, workspace=trained.ws)
    assert exc.value.code == "run_active"
