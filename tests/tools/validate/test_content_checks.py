"""validate_jsonl's content checks, one fixture each: what fires, on which lines, and what must not fire."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.format_samples import write_jsonl
from tools.core import registry
from tools.core.workspace import Workspace
from tools.validate.models import Finding, ValidateResult


def qa(prompt: str, answer: str, system: str | None = None) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": [*msgs, {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


PROMPTS = [
    "How do I reset my router to factory settings?",
    "What is the warranty period for the X200 tent?",
    "Can I return boots after wearing them outside?",
    "Which sleeping bag is rated for minus ten degrees?",
    "Do you ship camping stoves to Norway?",
    "How long does a repair of a zipper usually take?",
    "Is the trail map included with the guidebook?",
    "What size of backpack fits carry-on rules?",
    "How should I clean a down jacket at home?",
    "Where can I find the assembly video for the canopy?",
    "Why does my headlamp flicker on the lowest setting?",
    "Which stove fuel works best at high altitude?",
]
ANSWERS = [
    "Hold the reset button for ten seconds until the lights blink twice.",
    "The X200 tent carries a two-year warranty against manufacturing defects.",
    "Worn boots can be returned within thirty days if the soles show no damage.",
    "The Polar 10 bag is rated for minus ten degrees in comfort tests.",
    "Camping stoves ship to Norway by road freight, without fuel canisters.",
    "A zipper repair usually takes five working days from when we receive it.",
    "Yes, a folded trail map sits in the back pocket of every guidebook.",
    "Packs up to forty litres fit most airline carry-on limits.",
    "Wash it cold with down soap, then tumble dry low with two clean tennis balls.",
    "The canopy assembly video is linked on the product page under manuals.",
    "Flicker on low usually means the battery is nearly empty; replace it.",
    "Canister blends with isobutane keep their pressure best at altitude.",
]


def clean_rows(n: int = 12) -> list[dict[str, Any]]:
    return [qa(PROMPTS[i % 12] + ("" if i < 12 else f" (case {i})"), ANSWERS[i % 12]) for i in range(n)]


def validate(ws: Workspace, rows: list[Any], **kw: Any) -> ValidateResult:
    write_jsonl(ws.root / "d.jsonl", rows)
    result = registry.call(
        "validate_jsonl", {"paths": ["d.jsonl"], "max_findings": 200, "near_duplicates": False, **kw}, workspace=ws
    )
    assert isinstance(result, ValidateResult)
    return result


def found(result: ValidateResult, code: str) -> list[Finding]:
    return [f for f in result.findings if f.code == code]


def lines(result: ValidateResult, code: str) -> list[int]:
    """The lines a code names: one line finding per line, or the lines of one dataset finding."""
    hits = found(result, code)
    if len(hits) == 1 and hits[0].lines:
        return hits[0].lines
    return sorted(f.line for f in hits if f.line is not None)


CONTENT_CODES = {
    "invisible_characters",
    "mojibake",
    "contact_details",
    "filler_prompt",
    "repeated_opening",
    "repeated_closing",
    "repeated_answer",
    "label_imbalance",
    "degenerate_repetition",
    "truncated_answer",
    "language_mix",
}


def test_clean_file_has_no_content_finding(ws: Workspace) -> None:
    r = validate(ws, clean_rows())
    assert not {f.code for f in r.findings} & CONTENT_CODES, r.findings


def test_invisible_and_control_characters(ws: Workspace) -> None:
    rows = clean_rows()
    rows[2]["messages"][1]["content"] = "Worn boots\u200b can be returned\x07 within thirty days."
    rows[5]["messages"][0]["content"] = "How long \u202edoes a zipper repair take?"
    rows[7]["messages"][1]["content"] = (
        "Packs up to forty litres fit \U0001f469\u200d\U0001f4bb carry-on limits \u2620\ufe0f."
    )
    r = validate(ws, rows)
    assert lines(r, "invisible_characters") == [3, 6]
    third = next(f for f in found(r, "invisible_characters") if f.line == 3)
    assert "message 2 (assistant)" in third.message and "U+200B ZERO WIDTH SPACE" in third.message
    assert "U+0007" in third.message and "Worn boots" not in third.message
    assert "U+202E" in next(f for f in found(r, "invisible_characters") if f.line == 6).message


def test_mojibake_and_lost_apostrophes(ws: Workspace) -> None:
    rows = clean_rows()
    rows[1]["messages"][1]["content"] = "The X200 tent doesnâ€™t leak; itâ€™s covered for two years."
    rows[3]["messages"][0]["content"] = "I canat find the minus ten bag, Iave looked everywhere"
    rows[4]["messages"][1]["content"] = "Škola je v Praze; naïve café résumé, and he said we weave a head-band."
    r = validate(ws, rows)
    assert lines(r, "mojibake") == [2, 4]
    assert "contraction" in next(f for f in found(r, "mojibake") if f.line == 4).message


def test_contact_details_in_answers_point_to_pii(ws: Workspace) -> None:
    rows = clean_rows(14)
    rows[0]["messages"][1]["content"] = "Write to support@juniper-outdoor.example and we reply within a day."
    rows[3]["messages"][1]["content"] = "Call +1 (555) 123-4567 or (970) 555-SNOW for the rental desk."
    rows[6]["messages"][1]["content"] = "The map is at https://juniper.example/maps and www.juniper.example/faq."
    rows[8]["messages"][1]["content"] = "Orders placed on 2023-10-15 shipped from 192.168.100.200 at 10:30."
    rows[9]["messages"][0]["content"] = "My number is 555-123-4567, can you call?"  # a prompt: not trained
    r = validate(ws, rows)
    (f,) = found(r, "contact_details")
    assert f.lines == [1, 4, 7]
    assert "1 with an e-mail (lines 1)" in f.message and "1 with a phone (lines 4)" in f.message
    assert "1 with a URL (lines 7)" in f.message and "finetune pii" in f.message
    assert "support@" not in f.message and "555" not in f.message


def test_filler_prompts(ws: Workspace) -> None:
    rows = clean_rows(14)
    rows[2]["messages"][0]["content"] = "ok"
    rows[5]["messages"][0]["content"] = "lets"
    rows[8]["messages"][0]["content"] = "Hei da!"
    rows[10]["messages"][0]["content"] = "Reset password"
    rows[11]["messages"][0]["content"] = "I'm hungry."
    r = validate(ws, rows)
    assert lines(r, "filler_prompt") == [3, 6, 9]
    assert "3 of 14 prompts" in found(r, "filler_prompt")[0].message


def test_same_opening_and_closing_on_most_answers(ws: Workspace) -> None:
    rows = clean_rows(12)
    for i in range(7):
        msg = rows[i]["messages"][1]
        msg["content"] = "Great question! " + msg["content"] + " Let me know if you need anything else!"
    r = validate(ws, rows)
    (opening,) = found(r, "repeated_opening")
    assert '7 of 12 answers (58%) open with "great question here"' in opening.message or "great question" in (
        opening.message
    )
    assert opening.lines == [1, 2, 3, 4, 5, 6, 7]
    assert found(r, "repeated_closing")
    rows = clean_rows(12)
    for i in range(5):  # 5 of 12: not "most"
        rows[i]["messages"][1]["content"] = "Great question! " + rows[i]["messages"][1]["content"]
    assert not found(validate(ws, rows), "repeated_opening")


def test_one_answer_for_many_prompts(ws: Workspace) -> None:
    rows = clean_rows(14)
    canned = "Please contact our support team for more details about this product."
    for i in (1, 4, 9):
        rows[i]["messages"][1]["content"] = canned
    rows[12]["messages"][1]["content"] = "Yes."  # short answers repeated are labels, not canned replies
    rows[13]["messages"][1]["content"] = "Yes."
    r = validate(ws, rows)
    (f,) = found(r, "repeated_answer")
    assert f.lines == [2, 5, 10] and "3 prompts share" in f.message


def test_label_imbalance(ws: Workspace) -> None:
    reviews = [f"Review {i}: the tent {'kept us dry' if i % 2 else 'was fine'} on night {i}." for i in range(44)]
    rows = [qa(text, "positive") for text in reviews[:40]] + [qa(text, "negative") for text in reviews[40:43]]
    rows.append(qa(reviews[43], "neutral"))
    r = validate(ws, rows)
    (f,) = found(r, "label_imbalance")
    assert "3 labels" in f.message and "40x" in f.message and '"positive" 40' in f.message
    balanced = [qa(text, "positive" if i % 2 else "negative") for i, text in enumerate(reviews)]
    assert not found(validate(ws, balanced), "label_imbalance")


def test_degenerate_repetition(ws: Workspace) -> None:
    rows = clean_rows(12)
    rows[4]["messages"][1]["content"] = "Ship it by road. " * 200
    prose = " ".join(ANSWERS * 2)  # 1,600 characters of varied prose: not a loop
    rows[6]["messages"][1]["content"] = prose
    r = validate(ws, rows)
    assert lines(r, "degenerate_repetition") == [5]


def test_answers_cut_mid_sentence(ws: Workspace) -> None:
    rows = clean_rows(12)
    rows[1]["messages"][1]["content"] = "The X200 tent carries a two-year warranty against"
    rows[2]["messages"][1]["content"] = "Worn boots can be returned within thirty days if,"
    rows[3]["messages"][1]["content"] = "See the size chart at https://juniper.example/sizes"
    rows[4]["messages"][1]["content"] = "Camping stoves ship to Norway \U0001f69a"
    rows[5]["messages"][1]["content"] = "Five days"  # under min_words
    r = validate(ws, rows)
    (f,) = found(r, "truncated_answer")
    assert f.lines == [2, 3] and f.severity == "warning"


def test_language_mix_by_script(ws: Workspace) -> None:
    rows = clean_rows(14)
    rows[9]["messages"][1]["content"] = "Το βίντεο συναρμολόγησης βρίσκεται στη σελίδα του προϊόντος."
    r = validate(ws, rows)
    (f,) = found(r, "language_mix")
    assert f.lines == [10] and "Greek" in f.message and "13 of 14 answers" in f.message
    bilingual = [
        qa(p, a if i % 2 else "Το βίντεο βρίσκεται στη σελίδα του προϊόντος, στην ενότητα οδηγίες.")
        for i, (p, a) in enumerate(zip(PROMPTS, ANSWERS, strict=True))
    ]
    assert not found(validate(ws, bilingual), "language_mix")


@pytest.mark.parametrize(("target", "n", "code"), [("openai", 12, "small_dataset"), ("trl", 2, "small_dataset")])
def test_small_files_for_every_target(ws: Workspace, target: str, n: int, code: str) -> None:
    r = validate(ws, clean_rows(n), target=target)
    (f,) = found(r, code)
    assert f.severity == "warning" and "start with at least 50" in f.message
    assert not found(r, "too_few_examples")
