"""The Ollama Modelfile's TEMPLATE, rendered by Go's own text/template the way Ollama executes it, writes exactly
what the training chat template (Jinja, rendered by transformers) writes, for Ollama's own test conversations.

Real chat templates, copied byte for byte into tests/data/chat_templates/ (see SOURCES.md there): Llama 3.2 Instruct,
Phi-3.5 mini, Gemma 2 (from llama.cpp's models/templates); ChatML is the built-in tiny model's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import gotemplate
from tests.support.export_run import TrainedRun, export
from tools.core.errors import ToolError
from tools.export.ollama import chat_format, go_string, go_template, probe_conversations, stop_strings
from tools.local_models.tiny import CHATML_TEMPLATE, build_tokenizer

TEMPLATES = Path(__file__).resolve().parents[2] / "data" / "chat_templates"
CHATML_EOS = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""ChatML with EOS after each answer: what the TRL engine gives a tokenizer lacking ChatML's tokens (Gemma 3)."""

OLLAMA_CASES = [
    [{"role": "user", "content": "Hello, how are you?"}],
    [
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello, how are you?"},
        {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
        {"role": "user", "content": "I'd like to show off how chat templating works!"},
    ],
]
"""The three conversations of Ollama's template tests (ollama/ollama template/template_test.go, TestTemplate)."""

needs_go = pytest.mark.skipif(not gotemplate.available(), reason="go-template (Go's text/template) is not installed")


def _tokenizer(template: str, bos: str | None = None, eos: str | None = None):  # noqa: ANN202
    tok = build_tokenizer()
    tok.chat_template = template
    if bos:
        tok.bos_token = bos
    if eos:
        tok.eos_token = eos
    return tok


def _read(name: str) -> str:
    return (TEMPLATES / f"{name}.jinja").read_text("utf-8")


CASES = {
    "chatml (tiny model)": (CHATML_TEMPLATE, None, None),
    "chatml + eos (Gemma base)": (CHATML_EOS, None, "<eos>"),
    "llama 3.2 instruct": (_read("meta-llama-Llama-3.2-3B-Instruct"), "<|begin_of_text|>", "<|eot_id|>"),
    "phi 3.5 mini": (_read("microsoft-Phi-3.5-mini-instruct"), None, "<|endoftext|>"),
    "gemma 2 it": (_read("google-gemma-2-2b-it"), "<bos>", "<eos>"),
}


@needs_go
@pytest.mark.parametrize("name", sorted(CASES))
def test_go_template_renders_what_the_jinja_template_renders(name: str, tmp_path: Path) -> None:
    template, bos, eos = CASES[name]
    tok = _tokenizer(template, bos, eos)
    fmt = chat_format(tok)
    go = go_template(fmt)
    checked = 0
    for i, conv in enumerate(OLLAMA_CASES + probe_conversations()):
        if "system" not in fmt.roles and conv[0]["role"] == "system":
            continue  # the template refuses system turns; the Modelfile says so
        want = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        if fmt.bos:
            assert want.startswith(fmt.bos)
            want = want[len(fmt.bos) :]  # llama.cpp adds BOS itself (tokenizer.ggml.add_bos_token)
        assert gotemplate.render(go, conv, tmp_path / str(i)) == want, (name, conv)
        checked += 1
    assert checked >= 4


def test_stop_tokens_end_the_assistant_turn() -> None:
    chatml = chat_format(_tokenizer(CHATML_TEMPLATE))
    assert stop_strings(chatml, ["<|im_end|>"]) == ["<|im_end|>"]
    gemma_base = chat_format(_tokenizer(CHATML_EOS, eos="<eos>"))
    assert stop_strings(gemma_base, ["<eos>"]) == ["<|im_end|>", "<eos>"]
    llama = chat_format(_tokenizer(*CASES["llama 3.2 instruct"]))
    assert stop_strings(llama, ["<|eot_id|>", "<|end_of_text|>"]) == ["<|eot_id|>", "<|end_of_text|>"]
    gemma2 = chat_format(_tokenizer(*CASES["gemma 2 it"]))
    assert "system" not in gemma2.roles and any("System role not supported" in n for n in gemma2.notes)
    assert stop_strings(gemma2, ["<eos>"]) == ["<end_of_turn>", "<eos>"]


def test_a_template_that_is_more_than_a_wrapper_is_refused() -> None:
    numbered = (
        "{% for message in messages %}{{ loop.index ~ ' ' ~ message['role'] ~ ': ' ~ message['content'] ~ '\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    )
    with pytest.raises(ToolError) as exc:
        chat_format(_tokenizer(numbered))
    assert exc.value.code == "template_not_portable" and "vllm" in exc.value.hint


@needs_go
def test_go_strings_survive_awkward_text(tmp_path: Path) -> None:
    text = 'a "quoted" {{ brace }} back\\slash\ttab\nnewline \u00a0nbsp \x01ctl'
    out = gotemplate.render("{{ " + go_string(text) + " }}", [{"role": "user", "content": "x"}], tmp_path)
    assert out == text


@needs_go
@pytest.mark.slow
def test_the_ollama_export_s_modelfile_matches_the_training_template(trained: TrainedRun, tmp_path: Path) -> None:
    out = export(trained, "ollama")
    folder = trained.ws.root / out.out_dir
    text = (folder / "Modelfile").read_text()
    gguf = re.search(r"^FROM \./(\S+)$", text, re.M)
    assert gguf and (folder / gguf.group(1)).is_file()
    template = re.search(r'^TEMPLATE """(.*?)"""$', text, re.M | re.S)
    assert template is not None
    assert re.findall(r'^PARAMETER stop "(.*)"$', text, re.M) == ["<|im_end|>"]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(trained.folder / "adapter"))
    for i, conv in enumerate(OLLAMA_CASES):
        want = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        assert gotemplate.render(template.group(1), conv, tmp_path / str(i)) == want
    assert out.parity.verdict == "pass"
    assert any("will not load in llama.cpp or Ollama" in n for n in out.notes)
