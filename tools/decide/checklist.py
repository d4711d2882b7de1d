"""The decision checklist's answers and the `record_answers` tool that keeps them.

The answers live in ``.finetune/checklist.json`` in the workspace, so an agent, the guide and a
person at the CLI all see the same state, and a conversation can resume where it stopped. An
answer of "unknown" is an answer: the question is not asked again, and decide_fit treats it as
unknown. The latest answer to a question wins, whether it is a value or "unknown", so a field is
never both answered and unknown.

A file that is not JSON is reported with its path and the way out; a file that is JSON but holds
values that cannot be answers (a negative count, a field that is both answered and unknown, a key
that is no question) is repaired on load: what cannot be kept is dropped and said, the rest stays, and
the next ``record_answers`` writes the repaired state after keeping the damaged file beside it.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from tools.core.document import Block, Bullets, Cell, Document, Table, Text
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import prompts_dir
from tools.core.voice import say
from tools.core.workspace import current, write_text_atomic

FailureMode = Literal["format", "style", "knowledge", "cost", "latency", "other", "unknown"]
Privacy = Literal["none", "eu_personal_data", "health", "must_stay_on_premises", "unknown"]
CHECKLIST_FILE = "checklist.json"


class ChecklistAnswers(BaseModel):
    """What the person said; None means not asked yet."""

    failure_mode: FailureMode | None = Field(None, description="what fails with prompting")
    failure_detail: str | None = Field(None, description="the failure in the person's words")
    quality_examples: int | None = Field(None, ge=0, description="checked examples available")
    monthly_requests: int | None = Field(None, ge=0, description="expected requests per month")
    privacy: Privacy | None = Field(None, description="privacy constraint on the data")
    training_budget_usd: float | None = Field(None, ge=0, description="budget for training, USD")
    monthly_inference_budget_usd: float | None = Field(None, ge=0, description="monthly inference budget, USD")
    requirements_change_often: bool | None = Field(None, description="do rules or facts change often")
    eval_set_in_place: bool | None = Field(None, description="is a held-out eval set ready")
    current_prompt_tokens: int | None = Field(None, ge=0, description="length of the current prompt in tokens")
    region: str | None = Field(None, description="required data region, e.g. eu or us")
    model_family: str | None = Field(None, description="preferred model family, e.g. open-weight, gemini, nova")
    deadline: date | None = Field(None, description="date the model must be in production")
    unknown: list[str] | None = Field(None, description="fields the person answered with don't know")


ANSWER_FIELDS = tuple(f for f in ChecklistAnswers.model_fields if f != "unknown")


class Question(BaseModel):
    field: str
    core: bool
    ask: str
    why: str = ""
    example: str = ""
    names: list[str] = Field(default_factory=list)
    says: str | dict[str, str] = ""
    choices: list[str] | None = None


@cache
def questions() -> list[Question]:
    raw = yaml.safe_load((prompts_dir() / "questions.yaml").read_text("utf-8"))
    return [Question.model_validate(q) for q in raw["questions"]]


def checklist_path() -> Path:
    return current().state_dir / CHECKLIST_FILE


def _corrupt(path: Path, what: str) -> ToolError:
    shown = current().relative(path)
    return ToolError("checklist_corrupt", f"{shown}: {what}", say("checklist_start_over", path=shown))


def _repair(data: dict[str, Any]) -> tuple[ChecklistAnswers, list[str]]:
    """The answers that can be kept, and one line for each thing that could not."""
    notes: list[str] = []
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key == "unknown" or value is None:
            continue
        if key not in ANSWER_FIELDS:
            notes.append(f"{key} is not a checklist question; dropped")
            continue
        try:
            ChecklistAnswers.model_validate({key: value})
        except ValidationError as exc:
            reason = exc.errors(include_url=False, include_input=False)[0]["msg"]
            notes.append(f"{key}={value!r} is not a valid answer ({reason}); dropped, it will be asked again")
            continue
        kept[key] = value
    unknown = data.get("unknown") or []
    if not isinstance(unknown, list):
        notes.append(f"unknown={unknown!r} is not a list of fields; dropped")
        unknown = []
    still_unknown: list[str] = []
    for name in unknown:
        if name not in ANSWER_FIELDS:
            notes.append(f"unknown lists {name!r}, which is not a checklist question; dropped")
        elif name in kept:
            notes.append(f"{name} was both answered ({kept[name]!r}) and unknown; kept the answer")
        elif name not in still_unknown:
            still_unknown.append(name)
    return ChecklistAnswers.model_validate({**kept, "unknown": still_unknown or None}), notes


def load_checklist() -> tuple[ChecklistAnswers, list[str]]:
    """The recorded answers and the repairs made while reading them (empty when the file was sound)."""
    path = checklist_path()
    if not path.is_file():
        return ChecklistAnswers(), []
    try:
        data = json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError:
        raise _corrupt(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _corrupt(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise _corrupt(path, f"expected a JSON object of answers, found a {type(data).__name__}")
    try:
        answers = ChecklistAnswers.model_validate(data)
    except ValidationError:
        return _repair(data)
    if any(getattr(answers, name) is not None for name in answers.unknown or []):
        return _repair(data)  # answered and unknown at once, as an earlier version could leave it
    return answers, []


def load_answers() -> ChecklistAnswers:
    return load_checklist()[0]


def open_questions(answers: ChecklistAnswers) -> list[Question]:
    unknown = set(answers.unknown or [])
    return [q for q in questions() if getattr(answers, q.field) is None and q.field not in unknown]


class RecordAnswersRequest(ChecklistAnswers):
    """Answers to record; fields left null keep what was recorded before. A value replaces an earlier
    value or "unknown"; listing a field under ``unknown`` replaces its earlier value."""

    reset: bool | None = Field(None, description="forget every earlier answer first")


class ChecklistState(BaseModel):
    answers: ChecklistAnswers
    answered: list[str]
    open_core: list[str]
    next_question: str | None
    complete: bool
    replaced: list[str] = Field(
        default_factory=list, description="answers that changed an earlier one, as 'field: old -> new'"
    )
    repairs: list[str] = Field(
        default_factory=list, description="what was wrong in .finetune/checklist.json and how it was repaired"
    )

    def document(self) -> Document:
        unknown = set(self.answers.unknown or [])
        rows: list[list[Cell]] = [
            [name, "unknown" if name in unknown else _cell(getattr(self.answers, name))]
            for name in ANSWER_FIELDS
            if name != "failure_detail" and (name in unknown or getattr(self.answers, name) is not None)
        ]
        blocks: list[Block] = [Table(headers=["question", "answer"], rows=rows)] if rows else []
        if self.answers.failure_detail:
            blocks.append(Text(text=f"The failure in the person's words: {self.answers.failure_detail}"))
        if self.open_core:
            blocks.append(Bullets(title="Core questions still open", items=self.open_core))
        if self.next_question:
            blocks.append(Text(text=f"Next question: {self.next_question}"))
        for title, items in (("Replaced", self.replaced), ("Repaired in .finetune/checklist.json", self.repairs)):
            if items:
                blocks.append(Bullets(title=title, items=items))
        state = "complete" if self.complete else f"{len(self.open_core)} core questions open"
        return Document(
            title="Checklist answers", status="ok", headline=f"{len(self.answered)} answered; {state}", blocks=blocks
        )


def _cell(value: Any) -> Cell:
    return value.isoformat() if isinstance(value, date) else value


def _merge(base: ChecklistAnswers, given: dict[str, Any], newly_unknown: set[str]) -> tuple[dict[str, Any], list[str]]:
    """The merged answers: a new value or "unknown" replaces whatever the field held."""
    old = base.model_dump()
    merged = {**old, **given}
    for name in newly_unknown:
        merged[name] = None
    unknown = [f for f in ANSWER_FIELDS if f in (set(base.unknown or []) | newly_unknown) and f not in given]
    merged["unknown"] = unknown or None
    replaced = []
    for name in ANSWER_FIELDS:
        before = "unknown" if name in (base.unknown or []) else old.get(name)
        after = "unknown" if name in newly_unknown else given.get(name, before)
        if before is not None and name in set(given) | newly_unknown and str(before) != str(after):
            replaced.append(f"{name}: {before} -> {after}")
    return merged, replaced


def _check_unknown(given: dict[str, Any]) -> set[str]:
    listed = set(given.pop("unknown", []))
    bad = sorted(listed - set(ANSWER_FIELDS))
    if bad:
        raise ToolError(
            "unknown_field",
            f"unknown lists fields that are not checklist questions: {', '.join(bad)}",
            f"use field names from: {', '.join(sorted(ANSWER_FIELDS))}",
        )
    both = sorted(listed & set(given))
    if both:
        raise ToolError(
            "contradicting_answers",
            f"{', '.join(both)} given a value and listed under unknown in the same call",
            "send either the value or the field under unknown",
        )
    return listed


@tool(effect="write", stage="decide")
def record_answers(req: RecordAnswersRequest) -> ChecklistState:
    """Records the person's answers to the fine-tuning decision checklist and returns what is still open.

    Call it after each answer (use "unknown" when the person does not know; that counts as answered).
    A new answer replaces the earlier one (a value or "unknown"). Called with no answers it changes nothing
    and returns the state, repairing a damaged state file. It returns the answers so far, the next question
    to ask, and whether the core questions are answered, which is when decide_fit can be called. State is
    kept in .finetune/checklist.json.
    """
    ws = current()
    path = checklist_path()
    base, repairs = (ChecklistAnswers(), []) if req.reset else load_checklist()
    given = req.model_dump(exclude={"reset"}, exclude_none=True)
    newly_unknown = _check_unknown(given)
    merged, replaced = _merge(base, given, newly_unknown)
    answers = ChecklistAnswers.model_validate(merged)
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    if repairs:
        write_text_atomic(path.with_name(CHECKLIST_FILE + ".damaged"), path.read_text("utf-8"))
        repairs.append(f"the damaged file was kept as {ws.relative(path.with_name(CHECKLIST_FILE + '.damaged'))}")
    write_text_atomic(path, json.dumps(answers.model_dump(mode="json"), indent=2) + "\n")
    still_open = open_questions(answers)
    core_open = [q.field for q in still_open if q.core]
    unknown = list(answers.unknown or [])
    return ChecklistState(
        answers=answers,
        answered=[k for k, v in answers.model_dump().items() if v is not None and k != "unknown"] + unknown,
        open_core=core_open,
        next_question=still_open[0].ask if still_open else None,
        complete=not core_open,
        replaced=replaced,
        repairs=repairs,
    )
