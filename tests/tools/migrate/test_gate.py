"""The confirmation gate on the golden-output step, through the real agent loop: without the person's yes nothing
reaches OpenAI; the dry run needs no yes. And the guide's migrate hook, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from typer.testing import CliRunner

from skill.agent import Agent
from skill.cli import app
from skill.guide import GuideInputs
from skill.guide.plans import STEP_CALLS, PlanContext
from tests.support.provider_stub import ProviderStub
from tests.tools.migrate.conftest import PIRATE
from tools.core import registry
from tools.core.workspace import Workspace
from tools.llm.base import LLMBackend, ToolCall, Turn

runner = CliRunner()


class Scripted(LLMBackend):
    """A stand-in model that plays back fixed turns."""

    name = "scripted"

    def __init__(self, turns: list[Turn]) -> None:
        super().__init__(model="scripted")
        self.turns = list(turns)

    def complete(self, messages: Sequence[Any], tools=(), *, system="", max_tokens=4096, on_text=None) -> Turn:
        return self.turns.pop(0)


def _turns(args: dict[str, Any]) -> list[Turn]:
    call = ToolCall(id="c1", name="record_golden_outputs", arguments=args)
    return [
        Turn(tool_calls=[call], stop_reason="tool_use", model="scripted", backend="scripted"),
        Turn(text="done", stop_reason="end_turn", model="scripted", backend="scripted"),
    ]


@pytest.mark.parametrize("said_yes", [False, True])
def test_golden_outputs_need_the_persons_yes(
    ws: Workspace, openai_org: tuple[ProviderStub, str], said_yes: bool
) -> None:
    stub, model = openai_org
    (ws.root / "train.jsonl").write_bytes(PIRATE.read_bytes())
    asked: list[str] = []
    args = {"model": model, "training_data": "train.jsonl", "sample": 2, "mode": "sync", "confirm": True}
    agent = Agent(Scripted(_turns(args)), ws, confirm=lambda spec, shown: asked.append(spec.name) or said_yes)
    reply = agent.send("record the golden outputs")
    assert asked == ["record_golden_outputs"]
    assert reply.events[0].outcome == ("ok" if said_yes else "declined")
    assert (stub.count("POST", "/v1/chat/completions") == 2) is said_yes
    if not said_yes:
        assert not any(r.method == "POST" for r in stub.requests)


def test_the_dry_run_needs_no_yes(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    stub, model = openai_org
    (ws.root / "train.jsonl").write_bytes(PIRATE.read_bytes())
    asked: list[str] = []
    args = {"model": model, "training_data": "train.jsonl", "sample": 2}
    reply = Agent(Scripted(_turns(args)), ws, confirm=lambda spec, shown: asked.append(spec.name) or False).send("?")
    assert asked == [] and reply.events[0].outcome == "ok" and stub.requests == []
    assert json.loads(reply.events[0].content)["state"] == "dry_run"


def test_spend_tools_of_the_step_are_gated() -> None:
    gated = {t.name: t.gated for t in registry.by_stage("migrate")}
    assert gated == {
        "openai_inventory": False,
        "record_golden_outputs": True,
        "choose_replacement": False,
        "migration_report": True,
    }


def test_the_guide_walks_the_migrate_step_without_spending() -> None:
    plans = dict(STEP_CALLS)
    none = PlanContext(GuideInputs(dataset="data.jsonl"), {}, {})
    assert plans["openai_inventory"](none) is None and plans["record_golden_outputs"](none) is None
    ctx = PlanContext(
        GuideInputs(dataset="data.jsonl", eval_set="test.jsonl", openai_model="ft:gpt-4o:acme::x"), {}, {}
    )
    assert plans["openai_inventory"](ctx) == {"model": "ft:gpt-4o:acme::x", "training_file": "data.jsonl"}
    golden = plans["record_golden_outputs"](ctx)
    assert golden == {"model": "ft:gpt-4o:acme::x", "eval_data": "test.jsonl", "training_data": "data.jsonl"}
    assert "confirm" not in golden


def test_cli(in_ws: Workspace, openai_org: tuple[ProviderStub, str], monkeypatch: pytest.MonkeyPatch) -> None:
    stub, model = openai_org
    (in_ws.root / "train.jsonl").write_bytes(PIRATE.read_bytes())
    listed = runner.invoke(app, ["migrate", "inventory", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["models"][0]["model"] == model
    dry = runner.invoke(app, ["migrate", "golden", model, "--training", "train.jsonl", "--sample", "2"])
    assert dry.exit_code == 0 and "confirm" in dry.stdout and "batch" in dry.stdout
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-15")
    late = runner.invoke(app, ["migrate", "golden", model, "--training", "train.jsonl", "--json"])
    assert late.exit_code == 2 and "model_retired" in late.stderr and "2027-01-14" in late.stderr
    ended = runner.invoke(app, ["migrate", "inventory", "--no-download"])
    assert ended.exit_code == 1 and "ended" in ended.stdout
