"""What the guide knows in one round: the person's last message, the tool calls since, and the memory it
carried from its own previous turn; plus the small helpers that turn questions and results into its words."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from skill.guide import summaries
from skill.guide.answers_file import GuideInputs
from skill.guide.plans import PlanContext
from skill.guide.understand import say, says
from tools import knowledge
from tools.decide.checklist import Question, questions
from tools.llm.base import AssistantMessage, ToolResultMessage


@dataclass
class Memory:
    """What the guide carries from one of its turns to the next."""

    asked: str | None = None
    retries: int = 0
    offered: str | None = None
    decided: str | None = None
    verdict: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    name: str
    args: dict[str, Any]
    outcome: Literal["ok", "error", "declined"]
    data: dict[str, Any]


@dataclass
class Reply:
    lines: list[str]
    memory: Memory


@dataclass
class Act:
    name: str
    args: dict[str, Any]


Action = Reply | Act


def read_calls(messages: Sequence[Any]) -> list[Call]:
    """Every tool call in ``messages`` with its outcome and parsed result, in order."""
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolResultMessage)}
    out = []
    for m in messages:
        if not isinstance(m, AssistantMessage):
            continue
        for c in m.tool_calls:
            res = results.get(c.id)
            if res is None:
                continue
            try:
                data = json.loads(res.content)
            except json.JSONDecodeError:
                data = {"message": res.content}
            data = data if isinstance(data, dict) else {"message": str(data)}
            outcome = "declined" if data.get("declined") else "error" if res.is_error else "ok"
            out.append(Call(c.name, c.arguments, outcome, data))
    return out


@dataclass
class Now:
    """One round of the guide: what the person said and what has happened since."""

    text: str
    first_turn: bool
    memory: Memory
    base_inputs: GuideInputs
    available: set[str]
    before: list[Call]
    calls: list[Call]
    loaded: Call | None = None
    noted: list[str] = field(default_factory=list)

    def done(self, name: str) -> Call | None:
        return next((c for c in reversed(self.calls) if c.name == name), None)

    def results(self) -> dict[str, dict[str, Any]]:
        loaded = [self.loaded] if self.loaded is not None else []
        return {c.name: c.data for c in [*self.before, *loaded, *self.calls] if c.outcome == "ok"}

    def state(self) -> dict[str, Any] | None:
        return self.results().get("record_answers")

    def answers(self) -> dict[str, Any]:
        state = self.state()
        return {k: v for k, v in (state or {}).get("answers", {}).items() if v is not None}

    @property
    def inputs(self) -> GuideInputs:
        return self.base_inputs.model_copy(update={k: v for k, v in self.memory.inputs.items() if v})

    def plan_context(self) -> PlanContext:
        return PlanContext(self.inputs, self.answers(), self.results())


def question_of(name: str | None) -> Question | None:
    return next((q for q in questions() if q.field == name), None)


def name_of(question: Question | None) -> str:
    """What the person calls the question ("training budget"), for `change <name>`."""
    if question is None:
        return ""
    return question.names[0] if question.names else question.field.replace("_", " ")


def why_of(question: Question) -> str:
    thresholds = {t.id: f"{t.value:,.0f}" for t in knowledge.decision().thresholds}
    return question.why.format(**thresholds)


def ask_text(question: Question) -> str:
    choices = [c for c in question.choices or [] if c != "unknown"]
    return question.ask + (f" ({', '.join(choices)})" if choices else "")


def describe(name: str, value: Any) -> str:
    question = question_of(name)
    if value == "unknown" or question is None:
        return str(value)
    return says(question, value)


def outcome_lines(call: Call) -> list[str]:
    if call.outcome == "declined":
        return [say("declined", tool=call.name)]
    if call.outcome == "error":
        error = call.data.get("error") or {}
        lines = [say("failed", tool=call.name, message=error.get("message", call.data.get("message", "")))]
        return lines + ([say("fix", hint=error["hint"])] if error.get("hint") else [])
    return summaries.summarise(call.name, call.data)
