"""scan_pii with the real Presidio and the installed spaCy model: detection, redaction, bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, sha256_file
from tools.data.formats import Conversation, Message, render

pytest.importorskip("presidio_analyzer")

NAME = "Margaret Okafor"
EMAIL = "margaret.okafor@example.com"
PHONE = "+44 7700 900123"
KEY = "sk-proj-4fQ9xT2mB7vL1nR8cW3yZ6aH0dK5pE9s"
CANARIES = (NAME, EMAIL, PHONE, KEY, "Okafor", "4fQ9xT2mB7vL1nR8")
SYSTEM = "You are the support assistant of Juniper Outdoor. Answer briefly and politely."
CLEAN = [
    ("How do I reset my password?", "Open Settings, choose Security and click Reset password."),
    ("Can I change the delivery address?", "Yes, until the parcel has been dispatched."),
    ("What sizes does the Trailhead jacket come in?", "It comes in S, M, L and XL."),
]


def chat(user: str, assistant: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def dataset() -> list[dict]:
    rows = [chat(u, a) for u, a in CLEAN * 3]
    rows.insert(
        4,
        chat(
            f"Hi, this is {NAME}, my email is {EMAIL} and my phone is {PHONE}. My order is damaged.",
            f"Sorry to hear that, {NAME}. We will send a replacement.",
        ),
    )
    rows.insert(
        7,
        chat(
            f"The integration fails with key {KEY}, what is wrong?",
            "Please rotate that key now; it was shared in a message.",
        ),
    )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture(scope="module")
def pii_engine():
    """Load spaCy + Presidio once for the whole module (the engine is cached per process)."""
    from tools.pii.engine import engine

    return engine("en")


@pytest.fixture
def data(ws: Workspace, pii_engine) -> Workspace:
    write_jsonl(ws.root / "train.jsonl", dataset())
    return ws


def scan(ws: Workspace, **args):
    return registry.call("scan_pii", {"path": "train.jsonl", **args}, workspace=ws)


def all_text(ws: Workspace) -> str:
    return "\n".join(
        p.read_text("utf-8", errors="replace") for p in ws.root.rglob("*") if p.is_file() and p.name != "train.jsonl"
    )


def test_engine_uses_an_installed_model_with_ner(pii_engine) -> None:
    assert pii_engine.ner, "make test must install a spaCy English model (the pii extra)"
    assert "parser" not in pii_engine.nlp_engine.nlp["en"].pipe_names


def test_finds_planted_pii_and_secret_per_entity_role_line(data: Workspace) -> None:
    result = scan(data)
    found = {e.entity: e for e in result.entities}
    for entity in ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "OPENAI_API_KEY"):
        assert entity in found, entity
    assert {r.role for r in found["EMAIL_ADDRESS"].by_role} == {"user"}
    assert {f.line for f in result.findings if f.entity == "OPENAI_API_KEY"} == {8}
    assert {f.line for f in result.findings if f.entity == "EMAIL_ADDRESS"} == {5}
    assert result.lines_with_findings == 2
    assert not result.ok
    assert result.unique_texts < result.texts_scanned  # the repeated system prompt is analysed once
    # The brand in the shared system prompt is reported once, not as a finding in every line.
    assert all(f.role != "system" for f in result.findings)


def test_no_raw_pii_in_output_reports_or_audit_log(data: Workspace) -> None:
    result = scan(data)
    dumped = result.model_dump_json()
    text = all_text(data)
    for canary in CANARIES:
        assert canary not in dumped
        assert canary not in text, f"{canary!r} leaked into a report or the audit log"
    assert (data.root / result.report_markdown).is_file()
    assert "sk-proj-***" in (data.root / result.report_markdown).read_text()


@pytest.mark.parametrize("mode", ["mask", "tag", "pseudonym", "hash"])
def test_redaction_modes_leave_no_canary_and_rescan_clean(data: Workspace, mode: str) -> None:
    before = sha256_file(data.root / "train.jsonl")
    result = scan(data, redact="clean.jsonl", mode=mode)
    assert sha256_file(data.root / "train.jsonl") == before  # the input is never changed
    out = (data.root / "clean.jsonl").read_text("utf-8")
    for canary in CANARIES:
        assert canary not in out
    assert result.redaction is not None and result.redaction.rescan_found == 0 and result.ok
    assert len(out.splitlines()) == len(dataset())
    rescan = registry.call("scan_pii", {"path": "clean.jsonl"}, workspace=data)
    redacted_types = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "OPENAI_API_KEY"}
    remaining = {e.entity for e in rescan.entities} & redacted_types
    if mode == "pseudonym":  # realistic fakes are found again by design; never the originals
        assert "OPENAI_API_KEY" not in remaining
    else:
        assert remaining == set()
    valid = registry.call("validate_jsonl", {"paths": ["clean.jsonl"], "near_duplicates": False}, workspace=data)
    assert all(f.errors == 0 for f in valid.files)


def test_modes_look_as_documented(data: Workspace) -> None:
    scan(data, redact="tag.jsonl", mode="tag")
    assert "<EMAIL_ADDRESS>" in (data.root / "tag.jsonl").read_text()
    scan(data, redact="hash.jsonl", mode="hash")
    assert "<OPENAI_API_KEY:" in (data.root / "hash.jsonl").read_text()
    scan(data, redact="mask.jsonl", mode="mask")
    assert "*" * len(EMAIL) in (data.root / "mask.jsonl").read_text()


def test_pseudonyms_are_consistent_and_seeded(data: Workspace) -> None:
    scan(data, redact="a.jsonl", mode="pseudonym", seed=7)
    scan(data, redact="b.jsonl", mode="pseudonym", seed=7)
    scan(data, redact="c.jsonl", mode="pseudonym", seed=8)
    a = (data.root / "a.jsonl").read_text()
    assert a == (data.root / "b.jsonl").read_text()
    assert a != (data.root / "c.jsonl").read_text()
    row = json.loads(a.splitlines()[4])
    user, assistant = row["messages"][1]["content"], row["messages"][2]["content"]
    fake = user.split("this is ")[1].split(",")[0]
    assert fake != NAME and fake in assistant  # the same person gets the same fake in both turns
    assert "@example.net" in user


@pytest.mark.parametrize(
    "fmt",
    [
        "sharegpt",
        "alpaca",
        "prompt_completion",
        "bedrock_nova",
        "vertex_gemini",
        "text",
        "preference",
        "openai_preference",
    ],
)
def test_every_format_is_scanned_and_stays_valid(ws: Workspace, pii_engine, fmt: str) -> None:
    rows = []
    for i, (u, a) in enumerate(CLEAN + [(f"Please email me at {EMAIL}.", f"Done, {NAME}.")]):
        conv = Conversation(
            [Message("system", SYSTEM), Message("user", u), Message("assistant", a)],
            rejected=[Message("assistant", f"No. ({i})")] if "preference" in fmt else None,
        )
        rows.append(render(conv, fmt)[0])
    write_jsonl(ws.root / "train.jsonl", rows)
    result = scan(ws, redact="clean.jsonl")
    assert result.format == fmt
    assert "EMAIL_ADDRESS" in {e.entity for e in result.entities}
    out = (ws.root / "clean.jsonl").read_text()
    assert EMAIL not in out and "<EMAIL_ADDRESS>" in out
    before = registry.call("validate_jsonl", {"paths": ["train.jsonl"], "near_duplicates": False}, workspace=ws)
    after = registry.call("validate_jsonl", {"paths": ["clean.jsonl"], "near_duplicates": False}, workspace=ws)
    assert after.files[0].format == before.files[0].format == fmt
    assert after.files[0].errors == before.files[0].errors


def test_interrupted_scan_leaves_no_partial_file(data: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.pii import scan_pii as mod
    from tools.pii.engine import PiiEngine

    monkeypatch.setattr(mod, "BLOCK", 3)
    calls = {"n": 0}
    original = PiiEngine.analyze_many

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PiiEngine, "analyze_many", flaky)
    with pytest.raises(KeyboardInterrupt):
        scan(data, redact="clean.jsonl")
    assert not (data.root / "clean.jsonl").exists()
    assert not [p for p in data.root.iterdir() if p.name.startswith(".clean.jsonl")]


def test_non_english_and_huge_lines(ws: Workspace, pii_engine) -> None:
    rows = [
        chat(
            "Здравствуйте, меня зовут Иван Петров, мой адрес ivan.petrov@example.ru, помогите с заказом.",
            "Конечно, мы поможем.",
        ),
        chat("请帮我查一下订单，我的邮箱是 wang.wei@example.cn，谢谢。", "好的。"),
        chat("Hallo, ich bin Anna Schmidt aus Berlin, Telefon +49 30 901820.", "Gerne."),
    ]
    filler = "The tent pole snapped on the second night of the trip. " * 1200  # ~67k characters
    rows.append(chat(filler + f" Write to {EMAIL} please.", "Noted."))
    path = write_jsonl(ws.root / "train.jsonl", rows)
    with path.open("a") as handle:  # a line over the reader's limit: reported, never a crash
        handle.write('{"text": "' + "x" * (17 << 20) + '"}\n')
    result = scan(ws, redact="clean.jsonl")
    found = {e.entity for e in result.entities}
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER"} <= found
    assert result.non_latin_texts >= 2 and any("non-Latin" in w for w in result.warnings)
    assert result.unreadable_lines == [5] and result.redaction is not None
    assert result.redaction.lines_left_out == [5]
    out = (ws.root / "clean.jsonl").read_text()
    assert EMAIL not in out and "ivan.petrov@example.ru" not in out and len(out.splitlines()) == 4


def test_blank_pipeline_warns_and_still_finds_patterns(data: Workspace) -> None:
    result = scan(data, model="blank")
    assert not result.names_detected
    assert result.warnings[0].startswith("NO NAME DETECTION")
    found = {e.entity for e in result.entities}
    assert "PERSON" not in found and {"EMAIL_ADDRESS", "OPENAI_API_KEY"} <= found


SECRETS = {
    "OPENAI_API_KEY": KEY,
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z" * 2,
    "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2,
    "GOOGLE_API_KEY": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "SLACK_TOKEN": "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx",
    "STRIPE_KEY": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


def test_secret_recognizers(pii_engine) -> None:
    from tools.pii.recognizers import facts

    entities = facts().default_entities()
    texts = [f"here is the token {value} for the integration" for value in SECRETS.values()]
    texts.append("connect with postgres://admin:hunter2secret@db.internal:5432/app")
    texts.append("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----")
    hits = pii_engine.analyze_many(texts, entities)
    for (entity, value), text, found in zip(SECRETS.items(), texts, hits, strict=False):
        assert [(h.entity, text[h.start : h.end]) for h in found] == [(entity, value)]
    assert [(h.entity, texts[-2][h.start : h.end]) for h in hits[-2]] == [("PASSWORD", "hunter2secret")]
    assert [h.entity for h in hits[-1]] == ["PRIVATE_KEY"]


def test_tuning_removes_known_false_positives(pii_engine) -> None:
    from tools.pii.recognizers import facts

    entities = facts().default_entities()
    texts = [
        "My SSN is 536-22-1234.",
        "Call me on 212-555-0143 tomorrow.",
        "Order JO-552871 has shipped.",
        "Drop us a line if the XL size does not fit.",
    ]
    hits = pii_engine.analyze_many(texts, entities)
    assert [h.entity for h in hits[0]] == ["US_SSN"]  # "SSN" is not an organisation
    assert [h.entity for h in hits[1]] == ["PHONE_NUMBER"]  # no UK_NHS on a US number
    assert hits[2] == [] and hits[3] == []


def test_bad_input_is_a_clear_error(ws: Workspace, pii_engine) -> None:
    (ws.root / "data.csv").write_text("name,email\nMargaret,m@example.com\n")
    with pytest.raises(ToolError) as info:
        registry.call("scan_pii", {"path": "data.csv"}, workspace=ws)
    assert info.value.code == "unsupported_format" and "Margaret" not in str(info.value)
    (ws.root / "bin.jsonl").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(ToolError):
        registry.call("scan_pii", {"path": "bin.jsonl"}, workspace=ws)
    with pytest.raises(ToolError) as info:
        registry.call("scan_pii", {"path": "missing.jsonl"}, workspace=ws)
    assert info.value.code == "file_not_found"
    write_jsonl(ws.root / "train.jsonl", [chat("hi", "hello")])
    with pytest.raises(ToolError) as info:
        scan(ws, entities=["NOT_A_THING"])
    assert info.value.code == "unknown_entity"
    with pytest.raises(ToolError) as info:
        scan(ws, redact="train.jsonl")
    assert info.value.code == "output_is_input"


def test_no_network(data: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("scan_pii tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert "EMAIL_ADDRESS" in {e.entity for e in scan(data).entities}


def test_cli_json_and_exit_codes(data: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from skill.cli import app

    monkeypatch.chdir(data.root)
    runner = CliRunner()
    res = runner.invoke(app, ["pii", "train.jsonl", "--json"])
    assert res.exit_code == 1, res.output
    payload = json.loads(res.stdout)
    assert payload["found_total"] >= 4
    assert all(c not in res.output for c in CANARIES)
    res = runner.invoke(app, ["pii", "train.jsonl", "--redact", "clean.jsonl", "--mode", "hash"])
    assert res.exit_code == 0, res.output
    assert "re-scan" in res.stdout and all(c not in res.output for c in CANARIES)
    res = runner.invoke(app, ["pii", "train.jsonl", "--mode", "shred"])
    assert res.exit_code == 2
