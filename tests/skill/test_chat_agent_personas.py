"""The three chat personas through the agent loop on the real anthropic and openai SDKs, against the local
wire-format stub (tests/support/llm_stub.py).

The model is scripted (it records what a model would parse from the person's words); everything else is real:
the loop, the tools, the confirmation gate, the checklist file, and what goes over the wire. The assertions
read the request bodies the SDKs sent: the reference passages the model gets for an off-topic question, the
answers a second session starts from, and the counts and lines the data tools report.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from skill.agent import Agent
from tests.conftest import REPO
from tests.support.llm_stub import (
    LLMStub,
    anthropic_message,
    fast_retry,
    openai_completion,
    openai_tool_call,
    text_block,
    tool_use_block,
)
from tools.core.workspace import Workspace
from tools.llm.anthropic_backend import AnthropicBackend
from tools.llm.base import LLMBackend
from tools.llm.openai_backend import OpenAIBackend

pytestmark = pytest.mark.slow
FLAVOURS = ["anthropic", "openai"]
DATASET = REPO / "tests" / "data" / "chat" / "cheackcz_jecnabot_training_data.jsonl"
Step = tuple[str, dict[str, Any]]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-canary")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-canary")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMStub]:
    with LLMStub() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


class Model:
    """Scripts the stub: for each person-turn, the tool calls the model makes, then its final text."""

    def __init__(self, stub: LLMStub, flavour: str) -> None:
        self.stub, self.flavour, self.n = stub, flavour, 0

    def turn(self, calls: list[Step], final: str) -> None:
        for name, args in calls:
            self.n += 1
            if self.flavour == "anthropic":
                self.stub.reply(anthropic_message([tool_use_block(f"toolu_{self.n}", name, args)], "tool_use"))
            else:
                self.stub.reply(openai_completion(None, [openai_tool_call(f"call_{self.n}", name, args)]))
        self.stub.reply(
            anthropic_message([text_block(final)]) if self.flavour == "anthropic" else openai_completion(final)
        )

    def backend(self) -> LLMBackend:
        if self.flavour == "anthropic":
            return AnthropicBackend("claude-sonnet-5-5", base_url=self.stub.url, retry=fast_retry()[0])
        return OpenAIBackend("gpt-5.4", base_url=self.stub.url + "/v1", retry=fast_retry()[0])


def _system(body: dict[str, Any]) -> str:
    system = body.get("system")
    if system is not None:
        return json.dumps(system, ensure_ascii=False) if not isinstance(system, str) else system
    return str(body["messages"][0]["content"])


def _last_tool_result(body: dict[str, Any], flavour: str) -> dict[str, Any]:
    if flavour == "anthropic":
        block = [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"][-1]
        content = block["content"] if isinstance(block["content"], str) else block["content"][0]["text"]
    else:
        content = [m["content"] for m in body["messages"] if m["role"] == "tool"][-1]
    return dict(json.loads(content))


ANSWERS: list[tuple[str, dict[str, Any]]] = [
    ("the JSON it returns keeps breaking our parser", {"failure_mode": "format", "failure_detail": "JSON breaks"}),
    ("a couple hundred", {"quality_examples": 200}),
    ("10-20k a month", {"monthly_requests": 10000}),
    ("no personal data", {"privacy": "none"}),
    ("a few hundred euros", {"training_budget_usd": 223}),
    ("$3,000 a month", {"monthly_inference_budget_usd": 3000}),
    ("no, stable", {"requirements_change_often": False}),
    ("yes", {"eval_set_in_place": True}),
    ("about 1,800 tokens", {"current_prompt_tokens": 1800}),
]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_full_walk_with_an_off_topic_question(stub: LLMStub, ws: Workspace, flavour: str) -> None:
    model = Model(stub, flavour)
    question = "what is the difference between LoRA and QLoRA?"
    model.turn([("record_answers", ANSWERS[0][1])], "Understood: the format fails. How many examples?")
    model.turn([("search_reference", {"query": question, "k": 3})], "From training.md: QLoRA loads a 4-bit base.")
    for _, args in ANSWERS[1:-1]:
        model.turn([("record_answers", args)], "Understood. Next question.")
    everything = {k: v for _, args in ANSWERS for k, v in args.items()}
    model.turn([("record_answers", ANSWERS[-1][1]), ("decide_fit", everything)], "Fine-tune (LoRA first), because ...")
    agent = Agent(model.backend(), ws)

    agent.send(ANSWERS[0][0])
    sent_before = len(stub.bodies())
    reply = agent.send(question)
    bodies = stub.bodies()
    system = _system(bodies[sent_before])
    assert "## Reference passages for the person's last message" in system
    assert "§" in system and "QLoRA" in system
    found = _last_tool_result(bodies[sent_before + 1], flavour)
    assert found["passages"] and all(p["file"].endswith(".md") and p["section"] for p in found["passages"])
    assert reply.events[0].outcome == "ok"

    for text, _ in ANSWERS[1:-1]:
        agent.send(text)
    reply = agent.send(ANSWERS[-1][0])
    assert [e.call.name for e in reply.events] == ["record_answers", "decide_fit"]
    decision = _last_tool_result(stub.bodies()[-1], flavour)
    assert decision["recommendation"] == "fine-tune (LoRA first)"
    assert any(r["id"] == "format_style" and r["decisive"] for r in decision["rules_fired"])
    assert "current_prompt_tokens: 1800" in _system(stub.bodies()[-1])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_second_session_changes_an_answer(stub: LLMStub, ws: Workspace, flavour: str) -> None:
    first = Model(stub, flavour)
    first.turn([("record_answers", {"failure_mode": "style", "quality_examples": 800})], "Noted.")
    Agent(first.backend(), ws).send("our tone is off; we have about 800 examples")

    second = Model(stub, flavour)
    second.turn(
        [("record_answers", {"unknown": ["quality_examples"]}), ("decide_fit", {"unknown": ["quality_examples"]})],
        "Noted: the number of examples is unknown now.",
    )
    sent_before = len(stub.bodies())
    reply = Agent(second.backend(), ws).send("actually I don't know how many examples we have")
    system = _system(stub.bodies()[sent_before])
    assert "quality_examples: 800" in system and "failure_mode: style" in system
    assert [e.outcome for e in reply.events] == ["ok", "ok"]
    state = json.loads(reply.events[0].content)
    assert state["replaced"] == ["quality_examples: 800 -> unknown"]
    saved = json.loads((ws.state_dir / "checklist.json").read_text())
    assert saved["quality_examples"] is None and saved["unknown"] == ["quality_examples"]
    assert "quality_examples" in json.loads(reply.events[1].content)["unknown"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_validate_and_scan_mid_walk_then_training_waits_for_a_yes(stub: LLMStub, ws: Workspace, flavour: str) -> None:
    shutil.copy(DATASET, ws.root / "support.jsonl")
    model = Model(stub, flavour)
    model.turn([("record_answers", {"failure_mode": "format"})], "Understood. How many examples?")
    model.turn(
        [("validate_jsonl", {"paths": ["support.jsonl"]}), ("scan_pii", {"path": "support.jsonl"})],
        "98 examples; the scan found names and URLs.",
    )
    model.turn(
        [
            ("configure_training", {"dataset": "support.jsonl"}),
            ("launch_lora", {"data": "support.jsonl", "plan_file": "finetune-config/plan.json"}),
            ("launch_lora", {"data": "support.jsonl", "plan_file": "finetune-config/plan.json", "confirm": True}),
        ],
        "You declined, so nothing started.",
    )
    asked: list[str] = []
    agent = Agent(model.backend(), ws, confirm=lambda spec, args: asked.append(spec.name) or False)
    agent.send("the answers come out in the wrong format")
    reply = agent.send("please validate support.jsonl and scan it for PII")
    assert [e.outcome for e in reply.events] == ["ok", "ok"]

    report = json.loads((ws.state_dir / "reports" / "support.pii.json").read_text())
    scan = _last_tool_result(stub.bodies()[-1], flavour)
    assert scan["found_total"] == report["found_total"] > 0
    assert scan["findings"][0]["line"] == report["findings"][0]["line"]
    validation = json.loads(reply.events[0].content)
    assert validation["files"][0]["examples"] == 98 and validation["report_markdown"].endswith(".md")

    reply = agent.send("train it")
    assert [e.outcome for e in reply.events] == ["ok", "ok", "declined"]
    dry_run = json.loads(reply.events[1].content)
    assert dry_run["started"] is False and "Call launch_lora again with confirm=true" in dry_run["message"]
    assert "--confirm" not in dry_run["message"], "agents get tool names, not CLI flags"
    assert asked == ["launch_lora"] and not (ws.root / "runs").exists()
