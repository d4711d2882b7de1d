"""validate_jsonl on real public fine-tuning files written by other people (tests/data/SOURCES.md): the defects
they carry are found at their line numbers, and what is fine in them is not flagged."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tools.core import registry
from tools.core.workspace import Workspace
from tools.validate.models import Finding, ValidateResult

DATA = Path(__file__).resolve().parents[2] / "data" / "datasets"


def check(ws: Workspace, name: str, **kw: Any) -> ValidateResult:
    shutil.copy(DATA / name, ws.root / name)
    before = (DATA / name).read_bytes()
    result = registry.call("validate_jsonl", {"paths": [name], "max_findings": 200, **kw}, workspace=ws)
    assert (ws.root / name).read_bytes() == before  # inputs are never modified
    assert isinstance(result, ValidateResult)
    return result


def one(result: ValidateResult, code: str) -> Finding:
    (f,) = [f for f in result.findings if f.code == code]
    return f


def line_findings(result: ValidateResult, code: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.code == code and f.line is not None)


def test_jecnabot_urls_in_answers(ws: Workspace) -> None:
    """CheackCZ/JecnaBot: the school's URLs appended to answers on lines 1, 2, 3, 5, 8, 9, 10. 62 of 98 answers
    open with "Škola" or "Ano", but no phrase opens most of them, so there is no repeated_opening."""
    r = check(ws, "cheackcz_jecnabot_training_data.jsonl")
    f = one(r, "contact_details")
    assert f.lines == [1, 2, 3, 5, 8, 9, 10] and "7 with a URL" in f.message
    assert r.ok and r.files[0].examples == 98
    assert not [f for f in r.findings if f.code in ("repeated_opening", "mojibake", "language_mix")]


def test_mighty_mountain_phone_and_urls(ws: Workspace) -> None:
    """KlementMultiverse/Mighty_Mountain_Ski_Resort: "(970) 555-SNOW" on lines 8, 11, 23, 26, 32, 40 and
    www.mightymountain.com on lines 10, 12, 17, 18, 24, 26, 29, 35, 36, 37 (alpaca, so the TRL target)."""
    r = check(ws, "klementmultiverse_mighty_mountain_training_data_first16000chars.jsonl")
    f = one(r, "contact_details")
    assert "6 with a phone (lines 8, 11, 23, 26, 32, 40)" in f.message
    assert "10 with a URL (lines 10, 12, 17, 18, 24, 26, 29, 35 ...)" in f.message
    assert f.lines == [8, 10, 11, 12, 17, 18, 23, 24, 26, 29, 32, 35, 36, 37, 40]
    assert "(970)" not in f.message and "mightymountain" not in f.message  # no contact detail is quoted
    assert r.files[0].target == "trl" and one(r, "small_dataset").severity == "warning"  # 40 < 50


def test_rahoofie_imessage_export_mojibake(ws: Workspace) -> None:
    """yarashobut/rahoofie-chatbot: curly apostrophes that became "a" ("canat", "Iave", "thatas") in 1, 10 and 5
    messages of lines 1, 2 and 3; a 3-example file is too small for OpenAI."""
    r = check(ws, "yarashobut_rahoofie_conversations_lines1-3.jsonl")
    assert line_findings(r, "mojibake") == [1] + [2] * 10 + [3] * 5
    assert one(r, "too_few_examples").severity == "error"


def test_deepelonbot_keys_nulls_cuts_and_greek(ws: Workspace) -> None:
    """mokydoky/DeepElonBot: `Prompt`/`Completion` keys (no trainer reads them), null prompts on lines 31, 56, 93,
    102, 141, 151, tweets cut mid-sentence (line 9 "impression count should "), filler prompts ("Tweet ", "I "),
    an exact duplicate (26, 27) and a Greek completion on line 141. The pirate-flag emoji on line 93 joins its
    parts with U+200D and U+FE0F, which are not invisible-character defects."""
    r = check(ws, "mokydoky_deepelonbot_finetune_data_first16000chars.jsonl")
    keys = one(r, "nonstandard_keys")
    assert keys.severity == "error" and "--map prompt=Prompt,completion=Completion" in keys.message
    assert r.files[0].format == "prompt_completion" and r.files[0].examples == 162
    assert line_findings(r, "missing_field") == [31, 56, 93, 102, 141, 151]
    cut = one(r, "truncated_answer")
    assert {9, 126} <= set(cut.lines or []) and 102 not in (cut.lines or [])  # "Twitter is " has two words
    assert {9, 21, 28, 36, 37} <= set(one(r, "filler_prompt").lines or [])
    assert one(r, "duplicate").lines == [26, 27]
    assert one(r, "language_mix").lines == [141]
    assert 93 not in line_findings(r, "invisible_characters")


def test_gamerai_one_prompt_ten_answers(ws: Workspace) -> None:
    """Kennz0r/GamerAI: `prompt`/`response` keys, filler prompts on lines 1 ("hei!"), 15 ("Hehehe.") and 16
    ("Hei da!"), and lines 4-13 share one prompt word for word with ten different answers."""
    r = check(ws, "kennz0r_gamerai_training_data.jsonl")
    assert "--map completion=response" in one(r, "nonstandard_keys").message
    assert one(r, "filler_prompt").lines == [1, 15, 16]
    assert one(r, "contradiction").lines == list(range(4, 14))


def test_two_example_file_for_every_target(ws: Workspace) -> None:
    """Bushir1/lsw_firm_booking: 2 examples, the first with a system prompt, the second without. Too few for
    OpenAI (an error); for an open-weight model (TRL) it trains, so a warning that it is too small."""
    r = check(ws, "bushir1_lsw_firm_booking_training_data.jsonl")
    assert one(r, "too_few_examples").message == "2 usable examples; openai needs at least 10"
    assert one(r, "inconsistent_system_prompt").lines == [2]
    trl = check(ws, "bushir1_lsw_firm_booking_training_data.jsonl", model="Qwen/Qwen2.5-7B-Instruct")
    assert trl.files[0].target == "trl" and trl.ok
    assert "start with at least 50" in one(trl, "small_dataset").message


def test_cookbook_toy_file_billed_tokens_and_repetition(ws: Workspace) -> None:
    """openai/openai-cookbook's toy_chat_fine_tuning.jsonl: billed tokens equal the cookbook's own counting
    (num_tokens_from_messages: 3 per message, every value encoded, the role too, 3 priming; the repository's
    faithful port of Chat_finetuning_data_prep in benchmarks/baselines), and line 5's answer, "Eat a banana!"
    2,000 times, is a repetition loop."""
    from benchmarks.baselines.cookbook_validate import run
    from tools.data.tokens import get_encoding

    name = "openai_cookbook_toy_chat_fine_tuning.jsonl"
    for model, encoding, expected in (
        ("gpt-4.1-mini-2025-04-14", "o200k_base", 8233),
        ("gpt-3.5-turbo-0125", "cl100k_base", 8242),
    ):
        r = check(ws, name, model=model)
        cookbook = run(str(DATA / name), get_encoding(encoding))["billing_tokens"]
        assert r.tokens is not None and r.tokens.billed_sum == cookbook == expected
    assert line_findings(r, "degenerate_repetition") == [5]
    assert "26,000 characters" in next(f for f in r.findings if f.code == "degenerate_repetition").message
