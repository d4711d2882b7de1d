"""The offline guide: a deterministic policy behind the same backend interface as the LLMs.

It greets, asks every checklist question (accepting "don't know"), says back what it understood, explains the
verdict of decide_fit with the rules that fired and what would change it, then offers the steps the verdict
calls for one at a time. On the way it answers questions from the reference (search_reference), runs the tools
a person asks for ("validate data.jsonl", "scan it for PII", "train it") and summarises what they found. Every
tool runs through the agent loop, so tool dispatch, the confirmation gate and the audit log are the real ones.

Its state is the conversation: the answers come from record_answers results, and what it asked last, the
files it was told about and the step it offered ride along in its own turns (``provider_content``), so a
saved transcript replays the same way. ``answers`` (from ``--answers FILE.yaml``) switches to autopilot: the
first message records them and runs the whole walk at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from skill.guide import summaries
from skill.guide.answers_file import GuideInputs
from skill.guide.plans import PLANS, STEP_CALLS, PlanContext, plan_config, plan_cost, plan_launch, present
from skill.guide.state import (
    Act,
    Action,
    Memory,
    Now,
    Reply,
    ask_text,
    describe,
    name_of,
    outcome_lines,
    question_of,
    read_calls,
    why_of,
)
from skill.guide.understand import (
    Understood,
    change_target,
    command,
    guide_texts,
    is_question,
    kind_of,
    mentioned_files,
    requests_in,
    say,
    understand,
)
from tools.core.registry import Tool
from tools.decide.checklist import ChecklistAnswers, Question, open_questions, questions
from tools.llm.base import AssistantMessage, LLMBackend, ToolCall, Turn, UserMessage

OPENING = "Hello."
SHOWN_PASSAGES = 2
GREETINGS = {"hello", "hi", "hey", "hello there", "good morning", "start", "let's go", "lets go", "go", "begin"}
FINE_TUNE_VERDICTS = {"fine_tune", "rag_plus_fine_tune"}
DATA_FILE = re.compile(r"\.(jsonl|json|csv|parquet|tsv)$", re.I)


class GuideBackend(LLMBackend):
    """The embedded, deterministic stand-in for an LLM."""

    name = "guide"

    def __init__(self, answers: dict[str, Any] | None = None, inputs: GuideInputs | None = None) -> None:
        super().__init__(model="checklist-guide")
        self.prefill = {k: v for k, v in (answers or {}).items() if v is not None}
        self.inputs = inputs or GuideInputs()

    def complete(
        self,
        messages: Sequence[Any],
        tools: Sequence[Tool] = (),
        *,
        system: Any = "",
        max_tokens: int = 4096,
        on_text: Callable[[str], None] | None = None,
    ) -> Turn:
        now = self._now(messages, {t.name for t in tools})
        action = self._autopilot(now) if self.prefill and now.first_turn else self._respond(now)
        if isinstance(action, Act):
            return self._call(action.name, action.args, len(messages))
        return self._text("\n".join(action.lines), action.memory)

    # ------------------------------------------------------------------------------------------------
    # Reading the conversation

    def _now(self, messages: Sequence[Any], available: set[str]) -> Now:
        start = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=0)
        last = messages[start] if messages and isinstance(messages[start], UserMessage) else None
        memory = self._memory(messages[:start])
        calls = read_calls(messages[start:])
        first = not any(isinstance(m, AssistantMessage) for m in messages[:start])
        now = Now(
            text=last.text if last else "",
            first_turn=first,
            memory=memory,
            base_inputs=self.inputs,
            available=available,
            before=read_calls(messages[:start]),
            calls=calls,
        )
        if first and not self.prefill and calls and calls[0].name == "record_answers" and not calls[0].args:
            now.loaded, now.calls = calls[0], calls[1:]
        return now

    def _memory(self, messages: Sequence[Any]) -> Memory:
        for m in reversed(messages):
            if isinstance(m, AssistantMessage) and m.provider == self.name and not m.tool_calls:
                saved = (m.provider_content or [{}])[0].get("guide")
                if isinstance(saved, dict):
                    return Memory(**{k: v for k, v in saved.items() if k in Memory.__dataclass_fields__})
        return Memory()

    # ------------------------------------------------------------------------------------------------
    # Autopilot: --answers FILE.yaml

    def _autopilot(self, now: Now) -> Action:
        if not now.done("record_answers"):
            return Act("record_answers", self.prefill)
        ctx = now.plan_context()
        for name, plan in STEP_CALLS:
            if name in now.available and not now.done(name):
                args = plan(ctx)
                if args is not None:
                    return Act(name, args)
        lines = [say("walk_done")]
        for call in now.calls:
            if call.name == "decide_fit" and call.outcome == "ok":
                lines += summaries.decide(call.data) + summaries.next_steps(call.data)
            elif call.name != "record_answers":
                lines += ["", f"{call.name}:"] + [f"  {line}" for line in outcome_lines(call)]
        return Reply(lines, replace(now.memory, decided=json.dumps(now.answers(), sort_keys=True, default=str)))

    # ------------------------------------------------------------------------------------------------
    # The conversation

    def _respond(self, now: Now) -> Action:
        if now.first_turn and now.loaded is None:
            return Act("record_answers", {})  # the saved state, repaired if damaged
        action = self._handle(now)
        if isinstance(action, Reply) and now.first_turn:
            action.lines = self._intro(now) + action.lines
        return action

    def _intro(self, now: Now) -> list[str]:
        lines = [say("greeting", count=len(questions()))]
        loaded = now.loaded
        if loaded is not None and loaded.outcome == "error":
            return lines + outcome_lines(loaded)
        state = loaded.data if loaded else {}
        if state.get("repairs"):
            lines.append(say("repaired", repairs="; ".join(state["repairs"])))
        answered = [k for k in state.get("answered", []) if k != "failure_detail"]
        if answered:
            answers = state.get("answers", {})
            shown = ", ".join(
                "unknown" if k in (answers.get("unknown") or []) else describe(k, answers.get(k)) for k in answered
            )
            lines.append(say("welcome_back", answered=len(answered), summary=shown))
        return lines

    def _handle(self, now: Now) -> Action:
        text = now.text.strip()
        self._note_files(now, text)
        cmd = command(text)
        handlers: dict[str, Callable[[Now], Action]] = {
            "help": lambda n: self._continue(n, [say("help")], resume=True),
            "back": self._back,
            "start_over": self._start_over,
            "answers": self._list_answers,
            "why": self._why,
            "next": self._next,
            "no": lambda n: Reply([say("lost_hint_done")], replace(n.memory, offered=None)),
        }
        if cmd in handlers:
            return handlers[cmd](now)
        change = change_target(text)
        if change is not None:
            return self._change(now, *change)
        requests = requests_in(text)
        if requests:
            return self._act(now, requests)
        asked = question_of(now.memory.asked)
        if asked is not None and not is_question(text):
            return self._answer(now, asked, text)
        if text.lower().strip(" .!") in GREETINGS or not text:
            return self._continue(now, [])
        if is_question(text) or len(text.split()) > 2:
            return self._search(now, text)
        hint = "lost_hint" if asked else "lost_hint_done"
        return self._continue(now, [say("lost", hint=say(hint))], resume=True)

    def _note_files(self, now: Now, text: str) -> None:
        for path in mentioned_files(text):
            if path.endswith(".log") or "trainer_state" in path or "log" in path.rsplit("/", 1)[-1]:
                key = "training_log"
            elif re.search(r"(^|/|_|-)(eval|test|val)", path) and DATA_FILE.search(path):
                key = "eval_set"
            elif DATA_FILE.search(path):
                key = "dataset"
            else:
                continue
            if now.memory.inputs.get(key) != path:
                now.noted.append(path)
            now.memory = replace(now.memory, inputs={**now.memory.inputs, key: path})

    # ------------------------------------------------------------------------------------------------
    # Answers and the checklist

    def _answer(self, now: Now, question: Question, text: str) -> Action:
        understood = understand(question, text)
        extra: list[str] = []
        if understood is None or (understood.value is None and not understood.unknown):
            if now.memory.retries == 0 or (understood is not None and understood.note):
                problem = understood.note if understood is not None else ""
                first = problem or say("not_understood", kind=kind_of(question), example=question.example)
                return self._ask(now, question, [first], retries=now.memory.retries + 1)
            understood = Understood(question.field, unknown=True)
            extra = [say("recorded_unknown", name=name_of(question))]
        return self._record(now, understood, extra)

    def _record(self, now: Now, understood: Understood, extra: list[str]) -> Action:
        done = now.done("record_answers")
        if done is None:
            return Act("record_answers", understood.args())
        if done.outcome != "ok":
            return Reply(outcome_lines(done), now.memory)
        if understood.unknown:
            lines = extra or [say("said_unknown", name=name_of(question_of(understood.field)))]
        else:
            value = understood.value
            shown = (
                str(value)
                if not isinstance(value, int | float) or isinstance(value, bool)
                else f"${value:,.0f}"
                if understood.field.endswith("_usd")
                else f"{value:,}"
            )
            key = "understood_range" if _is_range(understood) else "understood"
            lines = [say(key, what=understood.what, recorded=shown, name=name_of(question_of(understood.field)))]
            if understood.note:
                lines.append(f"({understood.note}.)")
        lines += [say("noted_file", path=path) for path in now.noted]
        lines += [say("replaced", old=r.split(": ", 1)[1].split(" -> ")[0]) for r in done.data.get("replaced", [])]
        return self._continue(now, lines, memory=replace(now.memory, asked=None, retries=0))

    def _ask(
        self, now: Now, question: Question, lines: list[str], *, retries: int = 0, key: str = "next_question"
    ) -> Reply:
        memory = replace(now.memory, asked=question.field, retries=retries, offered=None)
        return Reply([*lines, say(key, ask=ask_text(question))], memory)

    def _continue(self, now: Now, lines: list[str], *, resume: bool = False, memory: Memory | None = None) -> Action:
        """After anything: the question still open, else the next one, else the verdict, else the next step."""
        now.memory = memory or now.memory
        pending = question_of(now.memory.asked)
        if pending is not None:
            return self._ask(
                now, pending, lines, retries=now.memory.retries, key="resume" if resume else "next_question"
            )
        open_ = open_questions(ChecklistAnswers.model_validate(now.answers()))
        if open_:
            return self._ask(now, open_[0], lines)
        return self._verdict(now, lines)

    def _verdict(self, now: Now, lines: list[str]) -> Action:
        answers = now.answers()
        key = json.dumps(answers, sort_keys=True, default=str)
        memory = now.memory
        if memory.decided != key and "decide_fit" in now.available:
            done = now.done("decide_fit")
            if done is None:
                return Act("decide_fit", present(**answers))
            if done.outcome == "ok":
                lines = [*lines, say("verdict_intro"), *summaries.decide(done.data), *summaries.next_steps(done.data)]
                memory = replace(memory, decided=key, verdict=done.data.get("verdict"))
            else:
                lines = [*lines, *outcome_lines(done)]
        return self._offer(replace(now, memory=memory), lines)

    def _offer(self, now: Now, lines: list[str]) -> Reply:
        memory = replace(now.memory, asked=None, retries=0)
        if memory.verdict not in FINE_TUNE_VERDICTS:
            return Reply([*lines, say("offer_not_fine_tune")], replace(memory, offered=None))
        step = self._next_step(now) if now.inputs.dataset else None
        if step is not None:
            described = str(guide_texts()["steps"][step]).format(**now.inputs.model_dump())
            return Reply([*lines, say("offer_steps", step=described)], replace(memory, offered=step))
        key = "nothing_left" if now.inputs.dataset else "offer_data"
        return Reply([*lines, say(key)], replace(memory, offered=None))

    def _next_step(self, now: Now) -> str | None:
        done = {c.name for c in [*now.before, *now.calls] if c.outcome == "ok"}
        ctx = now.plan_context()
        for name, plan in STEP_CALLS[1:]:
            if name in now.available and name not in done and plan(ctx) is not None:
                return name
        return None

    # ------------------------------------------------------------------------------------------------
    # Commands

    def _back(self, now: Now) -> Action:
        order = [q.field for q in questions()]
        at = order.index(now.memory.asked) if now.memory.asked in order else len(order)
        target = question_of(order[max(at - 1, 0)])
        assert target is not None
        current = now.answers().get(target.field)
        if target.field in (now.answers().get("unknown") or []):
            current = "unknown"
        line = say("back_to", name=target.field, now=describe(target.field, current) if current else "none yet")
        return self._ask(now, target, [line])

    def _start_over(self, now: Now) -> Action:
        if now.done("record_answers") is None:
            return Act("record_answers", {"reset": True})
        fresh = Memory(inputs=now.memory.inputs)
        return self._continue(replace(now, memory=fresh), [say("start_over")])

    def _list_answers(self, now: Now) -> Action:
        answers = now.answers()
        unknown = answers.pop("unknown", None) or []
        rows = [f"  {k}: {describe(k, v)}" for k, v in answers.items() if k != "failure_detail"]
        rows += [f"  {k}: unknown" for k in unknown]
        lines = [say("answers_so_far"), *rows] if rows else [say("no_answers")]
        return self._continue(now, lines, resume=True)

    def _why(self, now: Now) -> Action:
        asked = question_of(now.memory.asked)
        if asked is not None:
            return self._ask(now, asked, [say("why_question", name=asked.field, why=why_of(asked))], key="resume")
        decision = now.results().get("decide_fit")
        if decision:
            return self._offer(now, summaries.decide(decision) + summaries.next_steps(decision))
        return self._continue(now, [say("help")], resume=True)

    def _change(self, now: Now, question: Question | None, value: str | None) -> Action:
        if question is None:
            names = ", ".join(q.names[0] if q.names else q.field for q in questions())
            return self._continue(now, [say("change_which", names=names)], resume=True)
        if value:
            understood = understand(question, value)
            if understood is not None and (understood.value is not None or understood.unknown):
                return self._record(now, understood, [])
        current = now.answers().get(question.field, "none yet")
        line = say("back_to", name=question.field, now=describe(question.field, current))
        return self._ask(now, question, [line])

    def _next(self, now: Now) -> Action:
        step = now.memory.offered
        if step is None:
            asked = question_of(now.memory.asked)
            if asked is not None:
                return self._answer(now, asked, now.text)
            return self._continue(now, [])
        return self._act(now, [step])

    # ------------------------------------------------------------------------------------------------
    # Acting and answering from the reference

    def _act(self, now: Now, names: list[str]) -> Action:
        ctx = now.plan_context()
        for name in names:
            if name not in now.available or now.done(name):
                continue
            if name == "launch_lora" and plan_launch(ctx) is None and not now.done("configure_training"):
                args = plan_config(ctx)
                if args is not None and "configure_training" in now.available:
                    return Act("configure_training", args)
            args = self._request_args(now, name, ctx)
            if args is None:
                verb = {"diagnose_loss": "diagnose"}.get(name, "validate")
                return self._continue(now, [say("need_file", verb=verb)], resume=True)
            return Act(name, args)
        lines: list[str] = []
        for call in now.calls:
            lines += ([""] if lines else []) + outcome_lines(call)
        return self._continue(now, lines, resume=True, memory=replace(now.memory, offered=None))

    def _request_args(self, now: Now, name: str, ctx: PlanContext) -> dict[str, Any] | None:
        if name == "validate_jsonl":
            return {"paths": [ctx.inputs.dataset]} if ctx.inputs.dataset else None
        if name == "estimate_cost":
            from skill.guide.amounts import parse_amount

            amount = parse_amount(now.text) if re.search(r"\brequests?\b", now.text, re.I) else None
            monthly = int(amount.per_month(amount.low)) if amount else None
            return plan_cost(ctx, monthly)
        if name == "run_status":
            return {}
        return PLANS[name](ctx)

    def _search(self, now: Now, text: str) -> Action:
        if "search_reference" not in now.available:
            return self._continue(now, [say("reference_none")], resume=True)
        done = now.done("search_reference")
        if done is None:
            return Act("search_reference", {"query": text, "k": 3})
        passages = done.data.get("passages", []) if done.outcome == "ok" else []
        if not passages:
            return self._continue(now, [say("reference_none")], resume=True)
        lines: list[str] = []
        last_where = None
        for passage in passages[:SHOWN_PASSAGES]:
            where = f"{passage['file']} § {passage['section']}"
            if where != last_where:
                lines.append(say("reference_answer", where=where))
                last_where = where
            text = passage["text"]
            lines += (
                [f"  {line}" for line in text.splitlines()] if text.startswith("|") else [f"  {' '.join(text.split())}"]
            )
        shown = {f"{p['file']} § {p['section']}" for p in passages[:SHOWN_PASSAGES]}
        others = sorted({f"{p['file']} § {p['section']}" for p in passages[SHOWN_PASSAGES:]} - shown)
        if others:
            lines.append(say("reference_more", where="; ".join(others)))
        return self._continue(now, lines, resume=True)

    # ------------------------------------------------------------------------------------------------
    # Turns

    def _call(self, name: str, args: dict[str, Any], position: int) -> Turn:
        call = ToolCall(id=f"guide_{position}", name=name, arguments=json.loads(json.dumps(args, default=str)))
        return Turn(tool_calls=[call], stop_reason="tool_use", model=self.model, backend=self.name, cost_usd=0.0)

    def _text(self, text: str, memory: Memory) -> Turn:
        return Turn(
            text=text,
            stop_reason="end_turn",
            model=self.model,
            backend=self.name,
            cost_usd=0.0,
            provider_content=[{"guide": asdict(memory)}],
        )


def _is_range(understood: Understood) -> bool:
    return " to " in understood.what and understood.value is not None
