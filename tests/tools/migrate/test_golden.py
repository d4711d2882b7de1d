"""record_golden_outputs against the stub OpenAI organisation: the dry run sends nothing and prices both modes, the
Batch API and sync calls record the old model's answers in prompt order, nothing is paid for twice, and the dates of
reference/data decide when it is too late."""

from __future__ import annotations

import json

import pytest

from tests.support.provider_stub import ProviderStub
from tests.tools.migrate.conftest import PIRATE
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.migrate.facts import folder_of

CHAT = "/v1/chat/completions"
PIRATE_LINES = PIRATE.read_text().splitlines()
ANSWERS = {
    json.loads(line)["messages"][1]["content"]: json.loads(line)["messages"][2]["content"] for line in PIRATE_LINES
}


def _golden(ws: Workspace, **args):
    return registry.call("record_golden_outputs", args, workspace=ws)


def _until_recorded(ws: Workspace, **args):
    for _ in range(8):
        out = _golden(ws, **args, confirm=True)
        if out.state == "recorded":
            return out
    raise AssertionError(f"never recorded: {out.message}")


def _lines(ws: Workspace, path: str) -> list[dict]:
    return [json.loads(line) for line in (ws.root / path).read_text().splitlines()]


@pytest.fixture
def split(ws: Workspace) -> None:
    """The real file split in two: 7 lines to train on, 3 held out."""
    (ws.root / "train.jsonl").write_text("\n".join(PIRATE_LINES[:7]) + "\n")
    (ws.root / "eval.jsonl").write_text("\n".join(PIRATE_LINES[7:]) + "\n")


def test_dry_run_sends_nothing_and_offers_the_batch_price(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    stub, model = openai_org
    (ws.root / "train.jsonl").write_bytes(PIRATE.read_bytes())
    out = _golden(ws, model=model, training_data="train.jsonl", sample=3)
    assert out.state == "dry_run" and stub.requests == []
    assert out.items == 3 and out.source == "training_sample" and out.has_references
    assert out.weaker and "sampled from the training file" in out.weaker
    prices = {p.mode: p for p in out.prices}
    assert prices["batch"].expected_usd < prices["sync"].expected_usd  # the Batch API's lower price
    assert prices["batch"].status == "confirmed" and "/ batch" in prices["batch"].basis
    assert "confirm=true" in out.message and "sync, at once" in out.message
    folder = ws.root / folder_of(model)
    sent = _lines(ws, f"{folder_of(model)}/heldout.jsonl")
    assert len(sent) == 3 and all(m["messages"][-1]["role"] == "assistant" for m in sent)
    rest = (folder / "train.jsonl").read_text().splitlines()
    assert len(rest) == 7 and not {json.dumps(s) for s in sent} & set(rest)  # the replacement never sees them
    assert set(rest) <= set(PIRATE_LINES)  # the training file's own lines, unchanged


def test_batch_records_the_answers_in_prompt_order(
    ws: Workspace, openai_org: tuple[ProviderStub, str], split: None
) -> None:
    stub, model = openai_org
    first = _golden(ws, model=model, eval_data="eval.jsonl", confirm=True)
    assert first.state == "submitted" and first.batch_id in stub.batches
    [upload] = [r for r in stub.requests if r.method == "POST" and r.path == "/v1/files"]
    assert b'name="purpose"\r\n\r\nbatch' in upload.body
    out = _until_recorded(ws, model=model, eval_data="eval.jsonl")
    assert out.source == "eval_data" and out.weaker is None and out.recorded == 3 and out.failed == 0
    assert stub.count("POST", "/v1/batches") == 1 and stub.count("POST", CHAT) == 0
    golden = _lines(ws, f"{folder_of(model)}/golden.jsonl")
    asked = [g["messages"][-2]["content"] for g in golden]
    assert [g["messages"][-1]["content"] for g in golden] == [ANSWERS[q] for q in asked]  # matched by custom_id
    preds = _lines(ws, f"{folder_of(model)}/golden.predictions.jsonl")
    assert [p["prediction"] for p in preds] == [ANSWERS[q] for q in asked]
    refs = _lines(ws, f"{folder_of(model)}/golden.references.jsonl")
    assert [r["messages"][-2]["content"] for r in refs] == asked
    body = stub.chat_bodies[0]
    assert body["temperature"] == 0 and body["max_completion_tokens"] == 1024 and body["model"] == model
    assert out.cost_usd is not None and 0 < out.cost_usd < out.prices[0].at_most_usd
    # asking again costs nothing and sends nothing
    seen = len(stub.requests)
    again = _golden(ws, model=model, eval_data="eval.jsonl", confirm=True)
    assert again.state == "recorded" and "already recorded" in again.message and len(stub.requests) == seen
    heldout = (ws.root / folder_of(model) / "heldout.jsonl").read_bytes()
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, eval_data="eval.jsonl", max_tokens=64, confirm=True)
    assert err.value.code == "golden_mismatch"
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, training_data="train.jsonl", sample=2)  # even a dry run leaves the record alone
    assert err.value.code == "golden_mismatch"
    assert (ws.root / folder_of(model) / "heldout.jsonl").read_bytes() == heldout
    assert not (ws.root / folder_of(model) / "train.jsonl").exists()
    assert not (ws.root / folder_of(model) / "pending").exists()


def test_a_lost_batch_answer_makes_no_second_batch(
    ws: Workspace, openai_org: tuple[ProviderStub, str], split: None
) -> None:
    stub, model = openai_org
    stub.fault("POST", "/v1/batches", drop="after")
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, eval_data="eval.jsonl", confirm=True)
    assert err.value.code == "provider_unreachable" and len(stub.batches) == 1
    out = _until_recorded(ws, model=model, eval_data="eval.jsonl")
    assert len(stub.batches) == 1 and out.recorded == 3


def test_sync_keeps_answers_and_never_pays_twice(
    ws: Workspace, openai_org: tuple[ProviderStub, str], split: None
) -> None:
    stub, model = openai_org
    refused = json.loads(PIRATE_LINES[9])["messages"][1]["content"]
    stub.refused.add(refused)
    stub.fault("POST", CHAT, status=429, times=2, skip=1)  # the second prompt is rate-limited (and its one retry)
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, eval_data="eval.jsonl", mode="sync", confirm=True)
    assert err.value.code == "provider_busy"
    assert len(stub.chat_bodies) == 1  # the first answer is kept
    out = _golden(ws, model=model, eval_data="eval.jsonl", mode="sync", confirm=True)
    assert out.state == "recorded" and out.recorded == 2 and out.failed == 1
    assert len(stub.chat_bodies) == 3  # one per prompt: nothing asked twice
    assert any("failed and are left out" in w for w in out.warnings)
    golden = _lines(ws, f"{folder_of(model)}/golden.jsonl")
    refs = _lines(ws, f"{folder_of(model)}/golden.references.jsonl")
    assert len(golden) == len(refs) == 2 and refused not in [g["messages"][-2]["content"] for g in golden]
    meta = json.loads((ws.root / folder_of(model) / "golden.json").read_text())
    assert meta["failed"] == 1 and "Invalid prompt" in meta["errors"][0]


def test_answers_cut_at_max_tokens_are_counted(
    ws: Workspace, openai_org: tuple[ProviderStub, str], split: None
) -> None:
    _, model = openai_org
    out = _golden(ws, model=model, eval_data="eval.jsonl", mode="sync", max_tokens=5, confirm=True)
    assert out.truncated == 3 and any("cut at max_tokens=5" in w for w in out.warnings)


def test_dates_decide_when_it_is_too_late(
    ws: Workspace, openai_org: tuple[ProviderStub, str], split: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, model = openai_org
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-13")
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, eval_data="eval.jsonl", confirm=True)
    assert err.value.code == "batch_outlasts_serving" and "2027-01-14" in err.value.message
    assert stub.requests == []
    assert _golden(ws, model=model, eval_data="eval.jsonl", mode="sync", confirm=True).state == "recorded"
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-14")
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model, eval_data="eval.jsonl", mode="sync")
    assert err.value.code == "model_retired"
    assert "stopped serving on 2027-01-14 (today is 2027-01-14)" in err.value.message


def test_without_prompts(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    _, model = openai_org
    with pytest.raises(ToolError) as err:
        _golden(ws, model=model)
    assert err.value.code == "no_prompts" and "openai_inventory" in err.value.hint
