"""tools.data.tokens: offline tiktoken, ft: ids, approximate flags, counting once."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.data import tokens


def test_ft_ids_are_normalised() -> None:
    assert tokens.normalise_model("ft:gpt-4.1-mini-2025-04-14:acme::abc123") == "gpt-4.1-mini-2025-04-14"
    assert tokens.normalise_model("ft:gpt-4o-mini-2024-07-18:org:name:id") == "gpt-4o-mini-2024-07-18"
    assert tokens.normalise_model("gpt-4.1") == "gpt-4.1"
    # tiktoken alone would map ft:gpt-4.1 to cl100k; after normalising it is o200k
    assert tokens.encoding_for_model("ft:gpt-4.1-mini-2025-04-14:acme::abc123") == ("o200k_base", True)
    assert tokens.encoding_for_model("gpt-3.5-turbo-0125") == ("cl100k_base", True)


@pytest.mark.filterwarnings("ignore:open_binary is deprecated:DeprecationWarning")
def test_encoding_files_come_from_bpe_openai_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens._ENCODINGS.clear()
    try:
        url = tokens._URLS["cl100k_base"]
        target = tmp_path / hashlib.sha1(url.encode()).hexdigest()
        assert not target.exists()
        enc = tokens.get_encoding("cl100k_base")  # would need the network without the seed
        assert target.is_file()
        assert enc.encode_ordinary("hello world") == [15339, 1917]
        import bpe_openai

        text = "Fine-tuning needs clean data. " * 20
        assert enc.encode_ordinary(text) == list(bpe_openai.get_encoding("cl100k_base").encode_ordinary(text))
    finally:
        tokens._ENCODINGS.clear()
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path)


def test_counters_and_approximation() -> None:
    exact = tokens.counter_for("gpt-4o-mini-2024-07-18")
    assert exact.method == "tiktoken:o200k_base" and not exact.approximate
    claude = tokens.counter_for("claude-sonnet-4")
    assert claude.approximate and claude.method == "tiktoken:o200k_base"
    missing_hf = tokens.counter_for("some-org/not-downloaded-model")
    assert missing_hf.approximate
    assert tokens.counter_for(None).approximate


def test_repeated_strings_are_encoded_once() -> None:
    c = tokens.counter_for("gpt-4.1")
    calls = []
    real = c._length
    c._length = lambda t: calls.append(t) or real(t)
    system = "You are a helpful support agent for ACME. " * 10
    counts = [c.count(t) for t in (system, "hi", system, system, "hi")]
    assert counts[0] == counts[2] == counts[3] and counts[1] == counts[4]
    assert sorted(calls) == sorted([system, "hi"])
    assert c.count(system) == counts[0] and len(calls) == 2


def test_local_hugging_face_tokenizer_is_used(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    counter = tokens.counter_for(str(tmp_path / "tok"))
    assert counter.method.startswith("hf:") and not counter.approximate
    assert counter.count("hello world hello") == 3


_TRICKY = st.sampled_from(
    [
        "'s",
        "'LL",
        " 123456",
        "<|endoftext|>",
        "\r\n",
        "  \n\n",
        "\u00e9",
        "\u4e2d\u6587",
        "\U0001f642",
        "\u200b",
        "a\u0301",
        "\u0130",
        "\ufb01",
        "!!!",
        "\t",
        "https://x.io/a?b=1",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.text(min_size=1, max_size=12), _TRICKY), max_size=12).map("".join),
    st.sampled_from(["o200k_base", "cl100k_base"]),
)
def test_fast_count_agrees_with_tiktoken(text: str, encoding: str) -> None:
    """bpe-openai's counter stands in for tiktoken's encode_ordinary; it must give the same number."""
    assert tokens.tiktoken_length(encoding)(text) == len(tokens.get_encoding(encoding).encode_ordinary(text))


def test_lone_surrogates_are_counted_like_tiktoken() -> None:
    text = "half a pair \ud83d here"
    assert tokens.counter_for("gpt-4.1").count(text) == len(tokens.get_encoding("o200k_base").encode_ordinary(text))
