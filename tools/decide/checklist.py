"""The decision checklist's answers and the `record_answers` tool that keeps them.

The answers live in ``.finetune/checklist.json`` in the workspace, so an agent, the guide and a
person at the CLI all see the same state, and a conversation can resume where it stopped. An
answer of "unknown" is an answer: the question is not asked again, and decide_fit treats it as
unknown.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import prompts_dir
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


class Question(BaseModel):
    field: str
    core: bool
    ask: str
    choices: list[str] | None = None


@cache
def questions() -> list[Question]:
    raw = yaml.safe_load((prompts_dir() / "questions.yaml").read_text("utf-8"))
    return [Question.model_validate(q) for q in raw["questions"]]


def load_answers() -> ChecklistAnswers:
    path = current().state_dir / CHECKLIST_FILE
    if not path.is_file():
        return ChecklistAnswers()
    try:
        return ChecklistAnswers.model_validate_json(path.read_text("utf-8"))
    except ValueError as exc:
        raise ToolError(
            "checklist_corrupt",
            f"{path}: not a valid checklist ({str(exc).splitlines()[0]})",
            "delete the file to start the checklist again",
        ) from None


def open_questions(answers: ChecklistAnswers) -> list[Question]:
    unknown = set(answers.unknown or [])
    return [q for q in questions() if getattr(answers, q.field) is None and q.field not in unknown]


class RecordAnswersRequest(ChecklistAnswers):
    """Answers to record; fields left null keep what was recorded before."""

    reset: bool | None = Field(None, description="forget every earlier answer first")


class ChecklistState(BaseModel):
    answers: ChecklistAnswers
    answered: list[str]
    open_core: list[str]
    next_question: str | None
    complete: bool


@tool(effect="write", stage="decide")
def record_answers(req: RecordAnswersRequest) -> ChecklistState:
    """Records the person's answers to the fine-tuning decision checklist and returns what is still open.

    Call it after each answer (use "unknown" when the person does not know; that counts as answered).
    It returns the answers so far, the next question to ask, and whether the five core questions are
    answered, which is when decide_fit can be called. State is kept in .finetune/checklist.json.
    """
    ws = current()
    base = ChecklistAnswers() if req.reset else load_answers()
    given = req.model_dump(exclude={"reset"}, exclude_none=True)
    fields = set(ChecklistAnswers.model_fields) - {"unknown"}
    bad = sorted(set(given.get("unknown", [])) - fields)
    if bad:
        raise ToolError(
            "unknown_field",
            f"unknown lists fields that are not checklist questions: {', '.join(bad)}",
            f"use field names from: {', '.join(sorted(fields))}",
        )
    newly_unknown = set(given.pop("unknown", []))
    unknown = sorted((set(base.unknown or []) | newly_unknown) - set(given))
    merged = ChecklistAnswers.model_validate({**base.model_dump(), **given, "unknown": unknown or None})
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(ws.state_dir / CHECKLIST_FILE, json.dumps(merged.model_dump(mode="json"), indent=2) + "\n")
    still_open = open_questions(merged)
    core_open = [q.field for q in still_open if q.core]
    return ChecklistState(
        answers=merged,
        answered=[k for k, v in merged.model_dump().items() if v is not None and k != "unknown"] + list(unknown),
        open_core=core_open,
        next_question=still_open[0].ask if still_open else None,
        complete=not core_open,
    )
