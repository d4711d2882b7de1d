"""``--answers FILE.yaml``: checklist answers plus the inputs the guide works on, for a non-interactive walk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tools.core.errors import ToolError
from tools.core.json_input import MAX_DEPTH, nesting_depth
from tools.core.workspace import Workspace, read_small_text
from tools.decide.checklist import ChecklistAnswers

INPUT_KEYS = (
    "dataset",
    "eval_set",
    "training_log",
    "base_model",
    "project",
    "max_steps",
    "batch_size",
    "openai_model",
)


class GuideInputs(BaseModel):
    """Files the guide works on, besides the checklist answers."""

    dataset: str | None = None
    eval_set: str | None = None
    training_log: str | None = None
    base_model: str | None = None
    project: str | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    openai_model: str | None = None  # a fine-tuned OpenAI model to move (the migrate step)


def split_answers_file(data: dict[str, Any], source: str = "answers file") -> tuple[dict[str, Any], GuideInputs]:
    """Separate checklist answers from input paths; unknown keys are an error, not silently dropped."""
    allowed = set(ChecklistAnswers.model_fields) | set(INPUT_KEYS) | {"failure_detail"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise ToolError(
            "answers_unknown_keys",
            f"{source}: unknown keys {', '.join(extra)}",
            f"allowed keys: {', '.join(sorted(allowed))}",
        )
    answers = {k: v for k, v in data.items() if k in ChecklistAnswers.model_fields}
    try:
        ChecklistAnswers.model_validate(answers)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise ToolError(
            "answers_invalid",
            f"{source}: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            "fix that answer, or write unknown",
        ) from None
    return answers, GuideInputs.model_validate({k: data[k] for k in INPUT_KEYS if k in data})


def load_answers_file(path: Path, ws: Workspace) -> tuple[dict[str, Any], GuideInputs]:
    """Read an answers file (like examples/answers.yaml) inside ``ws``; bad YAML or keys are a ToolError with
    the line. It goes through the workspace policy: a small regular file inside the workspace."""
    text = read_small_text(ws, path, what="answers file")
    if nesting_depth(text) > MAX_DEPTH:
        raise ToolError(
            "answers_not_yaml", f"{path}: nested more than {MAX_DEPTH} levels deep", "see examples/answers.yaml"
        )
    try:
        data = yaml.safe_load(text)
    except (RecursionError, ValueError):
        raise ToolError("answers_not_yaml", f"{path}: not readable YAML", "see examples/answers.yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ToolError("answers_not_yaml", f"{path}{line}: not valid YAML", "fix the YAML syntax there") from None
    if not isinstance(data, dict):
        raise ToolError("answers_not_mapping", f"{path}: expected `key: value` lines", "see examples/answers.yaml")
    return split_answers_file(data, str(path))
