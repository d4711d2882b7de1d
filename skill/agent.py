"""The agent loop: a backend proposes tool calls, the registry runs them, the person confirms spending.

One loop serves every backend (Anthropic, OpenAI-compatible, the offline guide). Each round it
renders the system prompt from ``prompts/agent_system.md.j2`` with the checklist answers known so
far, asks the backend for a turn, and runs the tool calls through the registry. A call of a tool
whose effect is ``spend`` or ``long`` with ``confirm=true`` runs only after the person said yes
(the :class:`Confirmer`); the model cannot confirm for them, and a declined call comes back to the
model as "declined". Results larger than ``max_result_chars`` are written to
``.finetune/results/`` and the model gets a bounded summary with the path. The transcript is saved
under ``.finetune/transcripts/`` after every round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, Protocol

import jinja2
from pydantic import BaseModel

from skill.steps import walk
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.registry import Tool
from tools.core.resources import prompts_dir
from tools.core.scrub import scrub
from tools.core.workspace import Workspace, using, write_text_atomic
from tools.decide.checklist import ChecklistAnswers, load_answers, open_questions
from tools.facts.read_reference import available as reference_files
from tools.facts.search_reference import Passage, search
from tools.llm.base import (
    AssistantMessage,
    History,
    LLMBackend,
    SystemPrompt,
    ToolCall,
    ToolResultMessage,
    Turn,
    UsageLedger,
    UserMessage,
)

Message = UserMessage | AssistantMessage | ToolResultMessage
REFERENCE_PASSAGES = 3


class Confirmer(Protocol):
    def __call__(self, spec: Tool, args: dict[str, Any]) -> bool:
        """Ask the person whether this costly or long call may run; True means yes."""


def never_confirm(spec: Tool, args: dict[str, Any]) -> bool:
    return False


@dataclass
class ToolEvent:
    """One tool call as the surfaces show it."""

    call: ToolCall
    outcome: Literal["ok", "error", "declined"]
    content: str
    result: BaseModel | None = None


@dataclass
class AgentLimits:
    max_rounds: int = 40
    max_result_chars: int = 6000
    max_tokens: int = 4096


@dataclass
class AgentReply:
    """What one person-turn produced: the model's final text and every tool event on the way."""

    text: str
    events: list[ToolEvent] = field(default_factory=list)
    rounds: int = 0
    stopped: Literal["answered", "max_rounds"] = "answered"


@cache
def _templates() -> jinja2.Environment:
    """The prompt templates, loaded once per process (the system prompt is rendered every round)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(prompts_dir()),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_system_prompt(ws: Workspace, tools: Sequence[Tool], passages: Sequence[Passage] = ()) -> SystemPrompt:
    """The stable part (role, steps, references, rules) is cached by backends that cache; the
    volatile part (today's date, the answers so far, the reference passages for the person's last
    message) changes without invalidating it."""
    env = _templates()
    problem = None
    with using(ws):
        try:
            answers = load_answers()
        except ToolError as exc:  # a damaged checklist file: the model is told, and can reset it
            answers, problem = ChecklistAnswers(), f"{exc.message}; {exc.hint}"
    known = {k: v for k, v in answers.model_dump(mode="json").items() if v is not None}
    tool_names = {t.name for t in tools}
    stable = env.get_template("agent_system.md.j2").render(
        steps=walk().steps,
        tool_names=tool_names,
        references=[r for r in reference_files() if r.endswith(".md")],
        gated=sorted(t.name for t in tools if t.gated),
    )
    volatile = env.get_template("agent_state.md.j2").render(
        today=datetime.now(UTC).date().isoformat(),
        answers=known,
        open_questions=[q.ask for q in open_questions(answers) if q.core],
        tool_names=tool_names,
        passages=list(passages),
        checklist_problem=problem,
    )
    return SystemPrompt(stable=stable, volatile=volatile)


class Agent:
    """A conversation with one backend in one workspace."""

    def __init__(
        self,
        backend: LLMBackend,
        workspace: Workspace,
        *,
        confirm: Confirmer = never_confirm,
        limits: AgentLimits | None = None,
        on_event: Callable[[ToolEvent], None] = lambda _: None,
        on_text: Callable[[str], None] | None = None,
        tools: Sequence[Tool] | None = None,
        actor: str = "agent",
    ) -> None:
        self.backend = backend
        self.ws = workspace
        self.confirm = confirm
        self.limits = limits or AgentLimits()
        self.on_event = on_event
        self.on_text = on_text
        self.tools = list(tools) if tools is not None else registry.all_tools()
        self.actor = actor
        self.history: list[Message] = []
        self.passages: list[Passage] = []
        self.ledger: UsageLedger = backend.new_ledger()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.transcript_path = self.ws.state_dir / "transcripts" / f"{stamp}-{backend.name}.json"

    def send(self, text: str) -> AgentReply:
        """Add the person's message and run rounds until the model answers without tool calls. The
        reference passages that best match the message (search_reference's BM25) ride in the system
        prompt, so any backend answers from the same sourced text the offline guide quotes."""
        self.history.append(UserMessage(text=text))
        self.passages = search(text, REFERENCE_PASSAGES) if text.strip() else []
        reply = AgentReply(text="")
        for _ in range(self.limits.max_rounds):
            turn = self._complete()
            reply.rounds += 1
            self.history.append(turn.as_message())
            if not turn.tool_calls:
                reply.text = turn.text
                self._save()
                return reply
            for call in turn.tool_calls:
                event = self._run(call)
                reply.events.append(event)
                self.on_event(event)
                self.history.append(
                    ToolResultMessage(
                        tool_call_id=call.id, name=call.name, content=event.content, is_error=event.outcome != "ok"
                    )
                )
            self._save()
        reply.stopped = "max_rounds"
        reply.text = (
            f"Stopped after {self.limits.max_rounds} rounds of tool calls without a final answer; "
            "ask again to continue."
        )
        self._save()
        return reply

    def _complete(self) -> Turn:
        system = render_system_prompt(self.ws, self.tools, self.passages)
        turn = self.backend.complete(
            self.history, self.tools, system=system, max_tokens=self.limits.max_tokens, on_text=self.on_text
        )
        return self.ledger.add(turn)

    def _run(self, call: ToolCall) -> ToolEvent:
        if call.parse_error:
            return ToolEvent(
                call, "error", _error_json("bad_arguments", call.parse_error, "send the arguments as one JSON object")
            )
        try:
            spec = registry.get(call.name)
        except ToolError as exc:
            return ToolEvent(call, "error", _error_json(exc.code, exc.message, exc.hint))
        try:
            req = registry.validate(spec, call.arguments)
        except ToolError:
            req = None
        if req is None:
            try:  # audits the refused call and raises invalid_arguments
                registry.call(call.name, call.arguments, workspace=self.ws, actor=self.actor)
            except ToolError as exc:
                return ToolEvent(call, "error", _error_json(exc.code, exc.message, exc.hint))
            raise AssertionError("arguments that fail validation were accepted")  # pragma: no cover
        if needs_confirmation(spec, req):
            shown = req.model_dump(mode="json")
            approved = registry.args_digest(req)[0]
            if not self.confirm(spec, shown):
                content = json.dumps(
                    {
                        "declined": True,
                        "message": f"The person declined to run {spec.name}. "
                        "Do not retry it with confirm=true unless they ask for it.",
                    }
                )
                return ToolEvent(call, "declined", content)
            if registry.args_digest(req)[0] != approved:  # pragma: no cover - req is never mutated
                raise AssertionError("the call changed after it was approved")
        try:
            result = registry.call(call.name, req, workspace=self.ws, actor=self.actor)
        except ToolError as exc:
            return ToolEvent(call, "error", _error_json(exc.code, exc.message, exc.hint))
        return ToolEvent(call, "ok", self._bounded(call, result), result)

    def _bounded(self, call: ToolCall, result: BaseModel) -> str:
        text = result.model_dump_json()
        if len(text) <= self.limits.max_result_chars:
            return text
        path = self.ws.state_dir / "results" / f"{call.id}-{call.name}.json"
        write_text_atomic(path, result.model_dump_json(indent=2))
        return json.dumps(
            compact(result.model_dump(mode="json"), self.limits.max_result_chars, self.ws.relative(path)),
            ensure_ascii=False,
        )

    def _save(self) -> None:
        data = {
            "backend": self.backend.label,
            "usage": self.ledger.summary().model_dump(mode="json"),
            "history": History(messages=list(self.history)).model_dump(mode="json"),
        }
        write_text_atomic(self.transcript_path, scrub(json.dumps(data, indent=2, ensure_ascii=False)))


def _shrink(value: Any, items: int, chars: int) -> Any:
    if isinstance(value, dict):
        return {k: _shrink(v, items, chars) for k, v in value.items()}
    if isinstance(value, list):
        kept = [_shrink(v, items, chars) for v in value[:items]]
        return kept + [f"... {len(value) - items} more in the full result"] if len(value) > items else kept
    if isinstance(value, str) and len(value) > chars:
        return value[:chars] + f"... ({len(value)} chars)"
    return value


def compact(data: dict[str, Any], limit: int, full_result: str) -> dict[str, Any]:
    """A large result made small enough for the model: every field stays, long lists keep their
    first items and long strings their start, and ``full_result`` says where the whole is."""
    shrunk: Any = data
    for items, chars in ((20, 2000), (10, 600), (5, 300), (3, 160), (1, 80), (0, 60)):
        shrunk = {"truncated": True, "full_result": full_result, **_shrink(data, items, chars)}
        if len(json.dumps(shrunk, ensure_ascii=False)) <= limit:
            break
    return shrunk


def needs_confirmation(spec: Tool, req: BaseModel) -> bool:
    """A gated call needs the person's yes when it asks for the costly part; a dry run (without
    confirm=true) only says what it would do. Decided on the validated arguments (``confirm`` is a strict
    boolean, so "true" or 1 is refused before this point, never taken for a yes)."""
    if not spec.gated:
        return False
    return not spec.has_confirm or getattr(req, "confirm", False) is True


def _error_json(code: str, message: str, hint: str | None) -> str:
    return json.dumps({"error": {"code": code, "message": message, "hint": hint}}, ensure_ascii=False)
