"""Our rendering and masks per chat-template family, and the preflight's checks and refusals.

The four template strings are fixtures in the shape of each family's real template (ChatML as in Qwen2.5, Llama 3,
Gemma, Mistral), on a byte-level tokenizer that holds each family's special tokens: nothing is downloaded."""

from __future__ import annotations

from typing import Any

import pytest

from tools.core.errors import ToolError
from tools.local_models.preflight import Example, preflight
from tools.local_models.render import IGNORE, render_messages
from tools.local_models.templates import CHATML_EOS_TEMPLATE, CHATML_TEMPLATE, ensure_chat_template

QWEN = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
    "'<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\\n\\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set first = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first if loop.first else '') + message['content'] | trim + "
    "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
)

# family: (template, special tokens, bos, eos, the tokens generation stops on, the trained text of the answer)
FAMILIES: dict[str, tuple[str, list[str], str | None, str, list[str], str]] = {
    "chatml-qwen": (
        QWEN,
        ["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
        None,
        "<|im_end|>",
        ["<|im_end|>", "<|endoftext|>"],
        "Yes, again.<|im_end|>",
    ),
    "llama3": (
        LLAMA3,
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"],
        "<|begin_of_text|>",
        "<|eot_id|>",
        ["<|end_of_text|>", "<|eot_id|>"],
        "Yes, again.<|eot_id|>",
    ),
    "gemma": (
        GEMMA,
        ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
        "<bos>",
        "<eos>",
        ["<eos>", "<end_of_turn>"],
        "Yes, again.<end_of_turn>",
    ),
    "mistral": (MISTRAL, ["<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>", ["</s>"], " Yes, again.</s>"),
}


def family_tokenizer(specials: list[str], bos: str | None, eos: str, template: str | None) -> Any:
    """A byte-level tokenizer holding ``specials`` as single tokens, with ``template`` as its chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    core = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(sorted(alphabet))}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=eos)
    tok.chat_template = template
    return tok


CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Old answer", "weight": 0},
    {"role": "user", "content": "Again?"},
    {"role": "assistant", "content": "Yes, again."},
]


def _trained_text(tok: Any, ids: list[int], labels: list[int]) -> str:
    return tok.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_masks_per_template_family(family: str) -> None:
    template, specials, bos, eos, stops, trained = FAMILIES[family]
    tok = family_tokenizer(specials, bos, eos, template)
    convs = CONV if family != "mistral" else [m for m in CONV if m["role"] != "system"]
    r = render_messages(tok, convs, 4096)
    assert _trained_text(tok, r.input_ids, r.labels) == trained
    assert r.weight_zero_turns == 1 and "Old answer" in tok.decode(r.input_ids)
    if bos:
        assert r.input_ids.count(tok.bos_token_id) == 1, "the BOS is written once (template) and not added again"
    stop_ids = [tok.convert_tokens_to_ids(s) for s in stops]
    report = preflight(tok, [Example(1, messages=convs)], max_seq_len=4096, stop_ids=stop_ids, max_truncated_share=0.5)
    assert report.turns == report.turns_ending_with_stop == 1 and not report.warnings


def test_a_turn_that_does_not_end_on_a_stop_token_is_flagged() -> None:
    template, specials, bos, eos, _stops, _ = FAMILIES["gemma"]
    tok = family_tokenizer(specials, bos, eos, template)
    only_eos = [tok.convert_tokens_to_ids("<eos>")]  # a generation config that stops on <eos> only
    report = preflight(tok, [Example(7, messages=CONV)], max_seq_len=4096, stop_ids=only_eos, max_truncated_share=0.5)
    assert report.turns_ending_with_stop == 0 and report.no_stop_lines == [7]
    assert "do not end with a token the model stops on" in report.warnings[0]


def test_a_base_tokenizer_without_chatml_tokens_gets_chatml_closed_by_its_eos() -> None:
    """Gemma 3's vocabulary has no <|im_start|>/<|im_end|>: ChatML's end marker is plain text there, so the
    assistant turn also ends with the EOS, which is what generation stops on."""
    tok = family_tokenizer(["<bos>", "<eos>"], "<bos>", "<eos>", None)
    assert ensure_chat_template(tok).startswith("chatml + <eos>") and tok.chat_template == CHATML_EOS_TEMPLATE
    r = render_messages(tok, CONV[:2] + [{"role": "assistant", "content": "Hello."}], 4096)
    assert _trained_text(tok, r.input_ids, r.labels) == "Hello.<|im_end|><eos>"
    eos = [tok.eos_token_id]
    assert preflight(tok, [Example(1, messages=CONV)], max_seq_len=4096, stop_ids=eos, max_truncated_share=0.5).turns
    chatml = family_tokenizer(["<|im_start|>", "<|im_end|>"], None, "<|im_end|>", None)
    assert ensure_chat_template(chatml).startswith("chatml (") and chatml.chat_template == CHATML_TEMPLATE


def test_the_preview_shows_tokens_and_marks_what_is_trained() -> None:
    template, specials, bos, eos, stops, _ = FAMILIES["llama3"]
    tok = family_tokenizer(specials, bos, eos, template)
    stop_ids = [tok.convert_tokens_to_ids(s) for s in stops]
    report = preflight(
        tok, [Example(3, messages=CONV)], max_seq_len=4096, stop_ids=stop_ids, max_truncated_share=0.5, samples=1
    )
    sample = report.samples[0]
    assert sample.line == 3 and sample.trained_tokens == len("Yes, again.") + 1
    assert "⟦Yes, again.<|eot_id|>⟧" in sample.marked
    assert [t.token for t in sample.shown if t.trained][-1] == "<|eot_id|>"


def test_the_preflight_refuses_when_nothing_would_be_trained() -> None:
    tok = family_tokenizer(["<|im_start|>", "<|im_end|>"], None, "<|im_end|>", CHATML_TEMPLATE)
    silent = [{**m, "weight": 0} if m["role"] == "assistant" else m for m in CONV]
    with pytest.raises(ToolError) as info:
        preflight(tok, [Example(1, messages=silent)], max_seq_len=4096, stop_ids=[1], max_truncated_share=0.5)
    assert info.value.code == "nothing_to_train" and info.value.hint


def test_the_preflight_refuses_when_most_examples_would_be_cut() -> None:
    tok = family_tokenizer(["<|im_start|>", "<|im_end|>"], None, "<|im_end|>", CHATML_TEMPLATE)
    stop = [tok.convert_tokens_to_ids("<|im_end|>")]
    examples = [Example(i, messages=CONV) for i in range(1, 5)]
    cut = len(render_messages(tok, CONV, 4096).input_ids) - 3  # the answer's last tokens (and its EOS) are cut
    with pytest.raises(ToolError) as info:
        preflight(tok, examples, max_seq_len=cut, stop_ids=stop, max_truncated_share=0.5)
    assert info.value.code == "most_examples_truncated" and "4 of 4" in info.value.message
    ok = preflight(tok, examples, max_seq_len=4096, stop_ids=stop, max_truncated_share=0.5)
    assert ok.truncated == 0 and ok.turns == ok.turns_ending_with_stop == 4
