"""The second look: a detected name is found again where NER missed it (alone, inside an address), replaced
consistently; the re-scan says what it measured; review samples show the redacted text with offsets and type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.core import registry
from tools.core.workspace import Workspace

pytest.importorskip("presidio_analyzer")

SYSTEM = "You are the support assistant of Juniper Outdoor. Answer briefly and politely."
FULL, FIRST, LAST = "Priya Raman", "Priya", "Raman"
ROWS = [
    ("Hello, can you check my refund?", f"Hello {FULL}, your refund is done."),  # NER finds the full name
    ("Any news on the tent?", f"Cheers {FIRST}! It ships tomorrow."),  # the first name alone: NER misses it
    (f"Please send it to 9 {LAST} Close instead.", "Noted, the address is updated."),  # the surname in an address
    ("How do I wash the jacket?", "At 30 degrees, no softener."),
    ("Does the tent come in green?", "Yes, in green and orange."),
]


def chat(user: str, assistant: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


@pytest.fixture(scope="module")
def pii_engine():
    from tools.pii.engine import engine

    return engine("en")


@pytest.fixture
def data(ws: Workspace, pii_engine) -> Workspace:
    (ws.root / "train.jsonl").write_text("".join(json.dumps(chat(u, a)) + "\n" for u, a in ROWS), "utf-8")
    return ws


def scan(ws: Workspace, **args):
    return registry.call("scan_pii", {"path": "train.jsonl", **args}, workspace=ws)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_the_detector_alone_misses_the_first_name(pii_engine) -> None:
    """The premise of the fixture: without the second look, 'Cheers Priya!' keeps the name."""
    from tools.pii.recognizers import facts

    hits = pii_engine.analyze_many([ROWS[0][1], ROWS[1][1]], facts().default_entities())
    assert [(h.entity, ROWS[0][1][h.start : h.end]) for h in hits[0]] == [("PERSON", FULL)]
    assert all(h.entity != "PERSON" for h in hits[1])


def test_name_is_replaced_everywhere_alone_and_in_the_address(data: Workspace) -> None:
    result = scan(data, redact="clean.jsonl", mode="tag")
    out = (data.root / "clean.jsonl").read_text("utf-8")
    for word in (FULL, FIRST, LAST):
        assert word not in out, word
    rows = lines(data.root / "clean.jsonl")
    assert rows[1]["messages"][2]["content"] == "Cheers <PERSON>! It ships tomorrow."
    address = rows[2]["messages"][1]["content"]
    assert address == "Please send it to <STREET_ADDRESS> instead."  # not half masked ("9 <PERSON> Close")
    r = result.redaction
    assert r is not None and r.second_look_lines >= 1 and r.known_values >= 3
    assert r.rescan_found == 0 and result.ok
    assert rows[3:] == [chat(u, a) for u, a in ROWS[3:]]  # untouched lines stay as they were


def test_pseudonyms_follow_the_full_name(data: Workspace) -> None:
    scan(data, redact="fake.jsonl", mode="pseudonym", seed=3)
    rows = lines(data.root / "fake.jsonl")
    fake_full = rows[0]["messages"][2]["content"].removeprefix("Hello ").split(",")[0]
    first = rows[1]["messages"][2]["content"].removeprefix("Cheers ").split("!")[0]
    assert fake_full != FULL and len(fake_full.split()) == 2
    assert first == fake_full.split()[0]  # "Priya" alone becomes the first name of Priya Raman's fake


def test_rescan_states_detector_and_recall_never_clean(data: Workspace) -> None:
    from tools.pii.recognizers import facts

    result = scan(data, redact="clean.jsonl")
    r = result.redaction
    assert r is not None
    assert r.statement.startswith("no detections by Presidio ")
    assert result.nlp_model in r.detector
    measured = facts().recall_for(result.nlp_model)
    if measured is not None:
        assert r.recall == measured.recall and r.recall_benchmark == measured.benchmark
        assert f"whose recall on {measured.benchmark} is {measured.recall:.3f}" in r.statement
    else:
        assert "whose recall has not been measured" in r.statement
    dumped = result.model_dump_json().lower() + (data.root / result.report_markdown).read_text().lower()
    assert "clean" not in dumped.replace("clean.jsonl", "")


def test_review_samples_show_redacted_text_offsets_and_type(data: Workspace) -> None:
    result = scan(data, redact="clean.jsonl", mode="tag")
    r = result.redaction
    assert r is not None and r.review
    rows = lines(data.root / "clean.jsonl")
    for s in r.review:
        field = rows[s.line - 1]
        for part in s.where.replace("]", "").replace("[", ".").split("."):
            field = field[int(part)] if part.isdigit() else field[part]
        assert field[s.start : s.end] == f"<{s.entity}>"
        assert f"<{s.entity}>" in s.text
    by_line = {s.line: s for s in r.review}
    assert by_line[2].second_look and by_line[2].entity == "PERSON"
    assert not by_line[1].second_look
    report = (data.root / result.report_markdown).read_text()
    assert "second look" in report and FIRST not in report and LAST not in report


def test_compliance_does_not_call_the_copy_clean(data: Workspace) -> None:
    result = scan(data, redact="clean.jsonl")
    verdict = registry.call("check_compliance", {"pii_report": result.report_json, "regimes": ["gdpr"]}, workspace=data)
    assert verdict.pii.redacted_rescan == result.redaction.statement
    assert verdict.pii.redacted_no_detections
    text = verdict.model_dump_json().lower()
    assert "is clean" not in text and "redacted_clean" not in text
