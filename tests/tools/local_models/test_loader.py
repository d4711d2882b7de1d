"""Which model a name means, decided offline in seconds, with the fix named when it cannot load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.core.errors import ToolError
from tools.local_models import gemma
from tools.local_models.loader import load_tokenizer, resolve_model, stop_token_ids


def test_the_tiny_model_and_a_saved_folder_resolve(tmp_path: Path) -> None:
    from tools.local_models.tiny import build_model, build_tokenizer

    assert resolve_model("tiny-random-llama", tmp_path).kind == "tiny"
    folder = tmp_path / "my-base"
    build_model(0).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [257, 258]}))
    ref = resolve_model("my-base", tmp_path)
    assert ref.kind == "folder" and ref.path == str(folder.resolve())
    tok = load_tokenizer(ref)
    assert tok.chat_template and stop_token_ids(ref, tok) == [257, 258]


@pytest.mark.parametrize(
    "name, files, code, words",
    [
        ("./missing", {}, "model_not_found", "does not exist"),
        ("no-config", {"x.txt": "x"}, "unsupported_model", "no config.json"),
        ("no-weights", {"config.json": "{}", "tokenizer.json": "{}"}, "unsupported_model", "no weights"),
        ("a-bert", {"config.json": '{"architectures": ["BertModel"]}'}, "unsupported_model", "not a causal"),
        ("someone/not-cached", None, "model_not_available", "not in the local Hugging Face cache"),
        ("not a model name", None, "unsupported_model", "neither a model folder"),
    ],
)
def test_what_cannot_load_fails_at_once_naming_the_fix(
    tmp_path: Path, name: str, files: dict | None, code: str, words: str
) -> None:
    if files:
        folder = tmp_path / name
        folder.mkdir()
        for file, text in files.items():
            (folder / file).write_text(text)
    with pytest.raises(ToolError) as info:
        resolve_model(name, tmp_path)
    assert info.value.code == code and words in info.value.message and info.value.hint


def test_the_packaged_gemma_needs_its_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gemma, "installed", lambda: False)
    monkeypatch.setattr(gemma, "converted", lambda: None)
    with pytest.raises(ToolError) as info:
        resolve_model("gemma-3-270m", tmp_path)
    assert info.value.code == "model_not_available" and "real-model" in info.value.hint


def test_the_packaged_gemma_converts_once_into_a_plain_folder() -> None:
    """With the real-model extra installed (make demo-real): the converted folder has no GGUF quantisation left
    and the tokenizer gets ChatML closed by its EOS, which generation stops on."""
    if gemma.converted() is None:
        pytest.skip("the packaged Gemma has not been converted on this machine (make demo-real does it)")
    folder = gemma.converted()
    assert folder is not None
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"].startswith("gemma3")
    ref = resolve_model("gemma-3-270m", Path("."))
    tok = load_tokenizer(ref)
    assert tok.chat_template.endswith("{% endif %}") and "eos_token" in tok.chat_template
    assert stop_token_ids(ref, tok) == [tok.eos_token_id] == [1]
