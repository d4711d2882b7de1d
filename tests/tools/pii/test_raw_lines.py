"""The scanner reads the raw line: every value and key, duplicate keys, unparsed lines, limits, vendor tokens."""

from __future__ import annotations

import json
import time

import pytest

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace, sha256_file

pytest.importorskip("presidio_analyzer")

CARD = "4111 1111 1111 1111"
EMAIL = "dana.whitfield@example.org"
KEY = "sk-ant-oat01-" + "Zq7Yx2Wv9Ut4Sr1Qp6On3Ml8Kj5Ih0Gf" * 2


def chat(user: str = "How do I wash the jacket?", assistant: str = "At 30 degrees.", **extra) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], **extra}


@pytest.fixture(scope="module")
def pii_engine():
    from tools.pii.engine import engine

    return engine("en")


def write(ws: Workspace, lines: list[str]) -> None:
    (ws.root / "train.jsonl").write_text("".join(line + "\n" for line in lines), "utf-8")


def scan(ws: Workspace, **args):
    return registry.call("scan_pii", {"path": "train.jsonl", **args}, workspace=ws)


def everything(ws: Workspace, result) -> str:
    return result.model_dump_json() + "".join(
        p.read_text("utf-8") for p in (ws.root / ".finetune").rglob("*") if p.is_file()
    )


def test_fields_beyond_the_messages_are_scanned_and_redacted(ws: Workspace, pii_engine) -> None:
    rows = [
        json.dumps(chat(metadata={"contact": EMAIL, "card": CARD})),
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi", "name": "Dana Whitfield"},
                    {"role": "assistant", "content": "hello"},
                ]
            }
        ),
        json.dumps(chat(metadata={"phone": 442079460958})),  # a number, not a string
        json.dumps(chat()),
    ]
    write(ws, rows)
    result = scan(ws, redact="clean.jsonl")
    lines = {f.line: f for f in result.findings}
    assert {"EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER"} <= {f.entity for f in result.findings}
    assert lines[1].role == "metadata" and lines[3].role == "metadata"
    assert any(f.line == 2 and f.entity == "PERSON" for f in result.findings)
    out = (ws.root / "clean.jsonl").read_text("utf-8")
    for raw in (EMAIL, CARD, "Dana Whitfield", "442079460958"):
        assert raw not in out, raw
    assert json.loads(out.splitlines()[2])["metadata"]["phone"] == "<PHONE_NUMBER>"
    assert out.splitlines()[3] == rows[3]


def test_duplicate_messages_key_is_a_finding_and_the_line_is_scanned_as_text(ws: Workspace, pii_engine) -> None:
    dup = (
        '{"messages": [{"role": "user", "content": "card ' + CARD + ' please"}, '
        '{"role": "assistant", "content": "ok"}], '
        '"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}'
    )
    write(ws, [json.dumps(chat()), dup])
    before = sha256_file(ws.root / "train.jsonl")
    result = scan(ws, redact="clean.jsonl")
    assert sha256_file(ws.root / "train.jsonl") == before
    problem = next(p for p in result.line_problems if p.line == 2)
    assert problem.kind == "unparsed" and "duplicate key 'messages'" in problem.message
    assert any(f.line == 2 and f.entity == "CREDIT_CARD" and f.role == "unparsed" for f in result.findings)
    out = (ws.root / "clean.jsonl").read_text("utf-8")
    assert CARD not in out and "<CREDIT_CARD>" in out.splitlines()[1]


def test_secret_in_a_key_name_is_found_redacted_and_never_printed(ws: Workspace, pii_engine) -> None:
    row = chat(tools={KEY: "the integration token"})
    dup = '{"' + KEY + '": 1, "' + KEY + '": 2, "messages": []}'
    write(ws, [json.dumps(row), dup])
    result = scan(ws, redact="clean.jsonl")
    assert [(f.line, f.role, f.entity) for f in result.findings if f.line == 1] == [(1, "key", "ANTHROPIC_API_KEY")]
    assert "duplicate key of" in next(p.message for p in result.line_problems if p.line == 2)
    assert KEY not in everything(ws, result)
    assert KEY[20:40] not in everything(ws, result)
    assert KEY not in (ws.root / "clean.jsonl").read_text("utf-8")
    assert "<ANTHROPIC_API_KEY>" in json.loads((ws.root / "clean.jsonl").read_text().splitlines()[0])["tools"]


def test_unparsable_line_is_scanned_as_text_and_redacted(ws: Workspace, pii_engine) -> None:
    broken = '{"messages": [{"role": "user", "content": "mail me at ' + EMAIL + '"}'  # cut off
    write(ws, [json.dumps(chat()), broken])
    result = scan(ws, redact="clean.jsonl")
    assert [(f.line, f.role, f.entity) for f in result.findings] == [(2, "unparsed", "EMAIL_ADDRESS")]
    out = (ws.root / "clean.jsonl").read_text("utf-8").splitlines()
    assert out[1] == broken.replace(EMAIL, "<EMAIL_ADDRESS>")


@pytest.mark.parametrize(
    ("line", "kind", "words"),
    [
        ('{"a": ' + "[" * 300 + "]" * 300 + ', "b": "' + EMAIL + '"}', "unparsed", "levels deep"),
        ('{"n": ' + "7" * 5000 + ', "b": "' + EMAIL + '"}', "unparsed", "4,300"),
        ('{"n": ' + "7" * 500 + ', "b": "' + EMAIL + '"}', "unparsed", "500 digits"),
        ("[" * 200_000, "unparsed", "nested too deeply"),
        ('{"t": "' + "x" * 300_000 + '"}', "unread", "over the scan's limit"),
    ],
    ids=["depth", "python-int-limit", "digits", "brackets", "size"],
)
def test_limits_are_findings_not_crashes(
    ws: Workspace, pii_engine, monkeypatch: pytest.MonkeyPatch, line: str, kind: str, words: str
) -> None:
    from tools.pii.recognizers import facts

    monkeypatch.setattr(facts().limits, "max_line_bytes", 200_000)
    write(ws, [json.dumps(chat()), line, json.dumps(chat())])
    started = time.process_time()
    result = scan(ws, redact="clean.jsonl")
    assert time.process_time() - started < 60
    problem = next(p for p in result.line_problems if p.line == 2)
    assert problem.kind == kind and words in problem.message, problem.message
    out = (ws.root / "clean.jsonl").read_text("utf-8")
    assert EMAIL not in out
    if kind == "unread":
        assert result.unreadable_lines == [2] and len(out.splitlines()) == 2 and not result.ok
    else:
        assert any(f.entity == "EMAIL_ADDRESS" for f in result.findings) or "[[[" in line


def test_cpu_budget_per_line_stops_and_leaves_the_line_out(
    ws: Workspace, pii_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.pii.recognizers import facts

    monkeypatch.setattr(facts().limits, "line_cpu_seconds", 0.01)
    monkeypatch.setattr(facts().engine, "chunk_chars", 2000)
    long = " ".join(f"Order {i} for Dana at {EMAIL}." for i in range(3000))
    write(ws, [json.dumps(chat()), json.dumps(chat(user=long)), json.dumps(chat())])
    result = scan(ws, redact="clean.jsonl")
    problem = next(p for p in result.line_problems if p.line == 2)
    assert problem.kind == "budget" and "CPU-seconds" in problem.message
    assert result.unreadable_lines == [2] and not result.ok
    assert result.redaction is not None and result.redaction.lines_left_out == [2]
    assert len((ws.root / "clean.jsonl").read_text().splitlines()) == 2


VENDOR = {
    "ANTHROPIC_API_KEY": ["sk-ant-api03-" + "a1B2" * 23 + "AA", KEY, "sk-ant-admin01-" + "Q" * 40],
    "OPENAI_API_KEY": ["sk-proj-" + "Ab3" * 20 + "T3BlbkFJ" + "xY9" * 20, "sk-svcacct-" + "k" * 48],
    "AWS_ACCESS_KEY": ["AKIAIOSFODNN7EXAMPLE"],
    "GOOGLE_API_KEY": ["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "GOCSPX-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4"],
    "GITHUB_TOKEN": ["ghp_" + "a1B2c3D4e5" * 4, "github_pat_" + "11ABCDEFG0" * 4],
    "GITLAB_TOKEN": ["glpat-" + "xY7zW3vU5tS1rQ9pO2nM"],
    "SLACK_TOKEN": ["xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx"],
    "STRIPE_KEY": ["sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "rk_live_" + "9x" * 12],
    "HUGGINGFACE_TOKEN": ["hf_" + "aBcDeFgHiJ" * 3 + "kLmN"],
    "NPM_TOKEN": ["npm_" + "a1B2c3D4e5F6" * 3],
    "PYPI_TOKEN": ["pypi-AgEIcHlwaS5vcmc" + "CJGI1YjA4" * 7],
    "SENDGRID_API_KEY": ["SG." + "a1b2c3d4e5f6g7h8i9j0k1" + "." + "A" * 43],
    "GROQ_API_KEY": ["gsk_" + "aB3dE5fG7h" * 5 + "J9"],
    "XAI_API_KEY": ["xai-" + "Zz9" * 26 + "Zz"],
    "REPLICATE_TOKEN": ["r8_" + "Q1w2E3r4T5" * 3 + "y6U7i8O"],
    "PERPLEXITY_API_KEY": ["pplx-" + "a1B2c3D4" * 6],
    "DIGITALOCEAN_TOKEN": ["dop_v1_" + "0a1b2c3d" * 8],
    "DATABRICKS_TOKEN": ["dapi" + "0123456789abcdef" * 2],
    "SHOPIFY_TOKEN": ["shpat_" + "0123456789abcdef" * 2],
    "TELEGRAM_BOT_TOKEN": ["123456789:AA" + "h" * 33],
    "AZURE_STORAGE_KEY": ["AccountKey=" + "A1b2" * 21 + "Cd=="],
}


@pytest.mark.parametrize("entity", sorted(VENDOR))
def test_vendor_token_patterns(pii_engine, entity: str) -> None:
    from tools.pii.recognizers import facts, secret_prefix
    from tools.pii.redact import mask_sample

    texts = [f"the token is {value} - please rotate it" for value in VENDOR[entity]]
    found_hits = pii_engine.analyze_many(texts, facts().default_entities())
    for value, text, hits in zip(VENDOR[entity], texts, found_hits, strict=True):
        assert [h.entity for h in hits] == [entity], (value, hits)
        found = text[hits[0].start : hits[0].end]
        assert found in value
        sample = mask_sample(found, entity, True)
        assert found[len(secret_prefix(found)) :][:6] not in sample


def test_every_secret_pattern_cites_a_rule_set() -> None:
    from tools.pii.recognizers import facts

    pf = facts()
    secret_entities = {r.entity for r in pf.entities if r.kind == "secret"}
    assert secret_entities == {p.entity for p in pf.secrets}
    for p in pf.secrets:
        assert p.source.startswith("https://"), p.entity


def test_language_without_a_model_prints_a_fix_that_names_an_installable_package(ws: Workspace, pii_engine) -> None:
    import importlib.metadata
    import re

    write(ws, [json.dumps(chat(user="Ich heiße Anna Schmidt, Telefon +49 30 901820."))])
    de = scan(ws, language="de")
    if de.names_detected:
        pytest.skip("a German spaCy model is installed here")
    warning = de.warnings[0]
    assert warning.startswith("NO NAME DETECTION") and "python -m spacy download de_core_news_sm" in warning
    assert "PHONE_NUMBER" in {e.entity for e in de.entities}
    en = scan(ws, model="blank")
    fix = re.search(r"Fix: (.*?), then", en.warnings[0]).group(1)
    assert fix == "pip install 'finetune-skill[pii]'"
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in importlib.metadata.metadata("finetune-skill").get_all("Requires-Dist")]
    pii_extra = [r.name for r in reqs if r.marker is not None and r.marker.evaluate({"extra": "pii"})]
    model = next(name for name in pii_extra if name.startswith("en-core-web"))
    assert importlib.metadata.version(model)  # the extra's model is installed: it is what this machine runs with
    with pytest.raises(ToolError) as info:
        scan(ws, language="zz")
    assert info.value.code == "pii_unknown_language"


def test_progress_is_reported_in_bytes(ws: Workspace, pii_engine) -> None:
    from tools.core.progress import reporting

    write(ws, [json.dumps(chat()) for _ in range(50)])
    seen: list[tuple[float, float | None]] = []
    with reporting(lambda done, total, message: seen.append((done, total))):
        scan(ws, redact="clean.jsonl")
    size = (ws.root / "train.jsonl").stat().st_size
    assert seen and seen[-1] == (2 * size, 2 * size)
    assert all(total == 2 * size for _, total in seen)


def test_cli_progress_bar_follows_the_tool(ws: Workspace, pii_engine) -> None:
    import io

    from rich.console import Console

    from skill.progress_bar import progress_bar

    buffer = io.StringIO()
    write(ws, [json.dumps(chat()) for _ in range(20)])
    with progress_bar(Console(file=buffer, force_terminal=True, width=100), "scanning for PII"):
        scan(ws)
    assert "train.jsonl: scanned to line 20" in buffer.getvalue()
