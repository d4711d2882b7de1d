"""The offline guide: a deterministic policy behind the same backend interface as the LLMs.

It asks the checklist questions itself (accepting "don't know"), records the answers, calls
decide_fit, then walks the steps the answers call for (data -> PII -> provider -> cost -> config
-> diagnose), calling the same tools through the same loop, so tool dispatch, the confirmation gate
and the audit log all run with no API key. Its state is read back from the conversation history
every turn; nothing is hidden in the object, so a saved transcript replays the same way.

``answers`` (from ``--answers FILE.yaml``) pre-fills the checklist and names the inputs
(``dataset``, ``eval_set``, ``training_log``) for a non-interactive run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tools.core.errors import ToolError
from tools.core.json_input import MAX_DEPTH, nesting_depth
from tools.core.registry import Tool
from tools.core.workspace import Workspace, read_small_text
from tools.decide.checklist import ChecklistAnswers, Question, questions
from tools.llm.base import AssistantMessage, LLMBackend, ToolCall, ToolResultMessage, Turn, UserMessage

INPUT_KEYS = ("dataset", "eval_set", "training_log", "base_model", "project", "max_steps", "batch_size")
DONT_KNOW = re.compile(r"\b(don'?t know|do not know|not sure|no idea|unknown|dunno|skip)\b|^\s*\?\s*$", re.I)
FAILURE_WORDS = {
    "format": ("format", "json", "structure", "schema", "template"),
    "style": ("style", "tone", "voice", "brand", "persona", "sound"),
    "knowledge": ("knowledge", "facts", "know", "domain", "documents", "hallucinat"),
    "cost": ("cost", "expensive", "price", "cheaper", "money", "tokens"),
    "latency": ("latency", "slow", "fast", "speed", "time"),
    "other": ("other", "something else"),
}
PRIVACY_WORDS = {
    "must_stay_on_premises": (
        "premises",
        "on-prem",
        "onprem",
        "our machines",
        "our own machines",
        "air-gapped",
        "air gapped",
        "local only",
        "cannot leave",
        "can't leave",
    ),
    "health": ("health", "hipaa", "medical", "patient", "phi"),
    "eu_personal_data": ("gdpr", "personal", "eu ", "europe", "customer data", "names", "emails"),
    "none": ("no", "none", "nothing", "public"),
}


class GuideInputs(BaseModel):
    """Files the guide works on, besides the checklist answers."""

    dataset: str | None = None
    eval_set: str | None = None
    training_log: str | None = None
    base_model: str | None = None
    project: str | None = None
    max_steps: int | None = None
    batch_size: int | None = None


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


def _number(text: str) -> float | None:
    match = re.search(r"(\d[\d,_]*(?:\.\d+)?)\s*([km]?)\b", text.lower().replace("$", ""))
    if not match:
        return None
    value = float(match.group(1).replace(",", "").replace("_", ""))
    return value * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]


def _choice(text: str, words: dict[str, tuple[str, ...]]) -> str | None:
    lowered = f" {text.lower()} "
    for choice, keys in words.items():
        if any(re.search(rf"(?<![a-z]){re.escape(k.strip())}(?![a-z])", lowered) for k in keys):
            return choice
    return None


def parse_answer(question: Question, text: str) -> tuple[str, Any] | None:
    """The field and value a free-text answer gives, ("unknown", field) for don't know, None if unclear."""
    if DONT_KNOW.search(text):
        return "unknown", question.field
    field = question.field
    annotation = ChecklistAnswers.model_fields[field].annotation
    if field == "failure_mode":
        value = _choice(text, FAILURE_WORDS)
    elif field == "privacy":
        value = _choice(text, PRIVACY_WORDS)
    elif annotation in (bool | None,):
        lowered = text.strip().lower()
        value = (
            True
            if lowered.startswith(("y", "true", "ja", "oui"))
            else False
            if lowered.startswith(("n", "false"))
            else None
        )
    else:
        number = _number(text)
        value = None if number is None else int(number) if "int" in str(annotation) else number
    return None if value is None else (field, value)


def _results(messages: Sequence[Any], name: str) -> list[dict[str, Any]]:
    calls = {c.id: c.name for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls}
    out = []
    for m in messages:
        if isinstance(m, ToolResultMessage) and calls.get(m.tool_call_id) == name and not m.is_error:
            try:
                out.append(json.loads(m.content))
            except json.JSONDecodeError:
                continue
    return out


def _called(messages: Sequence[Any]) -> set[str]:
    return {c.name for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls}


@dataclass(frozen=True)
class PlanContext:
    """What a step's arguments are built from: the inputs, the answers, earlier tool results."""

    inputs: GuideInputs
    answers: dict[str, Any]
    results: dict[str, dict[str, Any]]

    def answer(self, field: str) -> Any:
        value = self.answers.get(field)
        return None if value == "unknown" else value


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != []}


def _clean_dataset(ctx: PlanContext) -> str | None:
    """The redacted copy when the PII scan wrote one, else the person's dataset."""
    redaction = ctx.results.get("scan_pii", {}).get("redaction") or {}
    return redaction.get("path") or ctx.inputs.dataset


def _train_split(ctx: PlanContext) -> str | None:
    parts = ctx.results.get("split_dataset", {}).get("parts") or []
    return next((p["path"] for p in parts if p["split"] == "train"), None) or _clean_dataset(ctx)


def _plan_decide(ctx: PlanContext) -> dict[str, Any] | None:
    return _present(**ctx.answers)


def _plan_validate(ctx: PlanContext) -> dict[str, Any] | None:
    return _present(paths=[p for p in (ctx.inputs.dataset, ctx.inputs.eval_set) if p]) if ctx.inputs.dataset else None


def _plan_pii(ctx: PlanContext) -> dict[str, Any] | None:
    data = ctx.inputs.dataset
    if not data:
        return None
    stem = data.rsplit(".", 1)[0]
    return {"path": data, "redact": f"{stem}.redacted.jsonl", "mode": "pseudonym"}


def _plan_compliance(ctx: PlanContext) -> dict[str, Any] | None:
    privacy = ctx.answer("privacy")
    regime = {"eu_personal_data": "gdpr", "health": "hipaa"}.get(privacy or "", "none")
    return _present(
        regimes=[regime],
        residency=ctx.answer("region"),
        on_premises=True if privacy == "must_stay_on_premises" else None,
        pii_report=ctx.results.get("scan_pii", {}).get("report_json"),
    )


def _plan_split(ctx: PlanContext) -> dict[str, Any] | None:
    data = _clean_dataset(ctx)
    return {"path": data} if data else None


def _plan_provider(ctx: PlanContext) -> dict[str, Any] | None:
    return _present(
        privacy=ctx.answer("privacy"),
        region=ctx.answer("region"),
        model_family=ctx.answer("model_family"),
        deadline=ctx.answer("deadline"),
        examples=ctx.answer("quality_examples"),
    )


def _plan_cost(ctx: PlanContext) -> dict[str, Any] | None:
    if not ctx.inputs.dataset:
        return None
    return _present(
        dataset=_train_split(ctx),
        family=ctx.answer("model_family"),
        open_weight_model=ctx.inputs.base_model,
        monthly_requests=ctx.answer("monthly_requests"),
        base_prompt_tokens=ctx.answer("current_prompt_tokens"),
        training_budget_usd=ctx.answer("training_budget_usd"),
        monthly_inference_budget_usd=ctx.answer("monthly_inference_budget_usd"),
    )


def _plan_config(ctx: PlanContext) -> dict[str, Any] | None:
    return _present(dataset=_train_split(ctx), base_model=ctx.inputs.base_model) if ctx.inputs.dataset else None


def _split_path(ctx: PlanContext, split: str) -> str | None:
    parts = ctx.results.get("split_dataset", {}).get("parts") or []
    return next((p["path"] for p in parts if p["split"] == split), None)


def _plan_launch(ctx: PlanContext) -> dict[str, Any] | None:
    """Training with the configured plan; confirm=true, so the person is asked before it starts."""
    config = ctx.results.get("configure_training")
    if not config or not config.get("plan_file"):
        return None
    batch = ctx.inputs.batch_size
    return _present(
        data=_train_split(ctx),
        eval_data=_split_path(ctx, "val"),
        plan_file=config["plan_file"],
        max_steps=ctx.inputs.max_steps,
        per_device_batch_size=batch,
        gradient_accumulation_steps=1 if batch else None,
        confirm=True,
    )


def _plan_diagnose(ctx: PlanContext) -> dict[str, Any] | None:
    return {"path": ctx.inputs.training_log} if ctx.inputs.training_log else None


STEP_CALLS: list[tuple[str, Callable[[PlanContext], dict[str, Any] | None]]] = [
    ("decide_fit", _plan_decide),
    ("validate_jsonl", _plan_validate),
    ("scan_pii", _plan_pii),
    ("check_compliance", _plan_compliance),
    ("split_dataset", _plan_split),
    ("select_provider", _plan_provider),
    ("estimate_cost", _plan_cost),
    ("configure_training", _plan_config),
    ("launch_lora", _plan_launch),
    ("diagnose_loss", _plan_diagnose),
]
"""The tool calls of the walk after the checklist, in order; a plan returning None skips the call.
Arguments follow each tool's input model; a tool that is not registered is skipped."""


def _answers_of(messages: Sequence[Any]) -> dict[str, Any]:
    states = _results(messages, "record_answers")
    return states[-1]["answers"] if states else {}


def _latest_results(messages: Sequence[Any]) -> dict[str, dict[str, Any]]:
    return {name: found[-1] for name, _ in STEP_CALLS if (found := _results(messages, name))}


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
        available = {t.name for t in tools}
        called = _called(messages)
        if self.prefill and "record_answers" not in called:
            return self._call("record_answers", self.prefill, len(messages))
        last = messages[-1] if messages else None
        asked = self._asked(messages)
        if isinstance(last, UserMessage) and asked is not None:
            parsed = parse_answer(asked, last.text)
            if parsed is None:
                hint = f" ({', '.join(asked.choices)})" if asked.choices else ""
                return self._ask(asked, prefix=f"I did not catch that. {asked.ask}{hint}")
            field, value = parsed
            args = {"unknown": [value]} if field == "unknown" else {field: value}
            return self._call("record_answers", args, len(messages))
        state = _results(messages, "record_answers")
        open_core = state[-1]["open_core"] if state else [q.field for q in questions() if q.core]
        if open_core:
            question = next(q for q in questions() if q.field == open_core[0])
            return self._ask(question)
        ctx = PlanContext(self.inputs, _answers_of(messages), _latest_results(messages))
        for name, plan in STEP_CALLS:
            if name in available and name not in called:
                args = plan(ctx)
                if args is not None:
                    return self._call(name, args, len(messages))
        return self._text(self._summary(messages))

    def _asked(self, messages: Sequence[Any]) -> Question | None:
        for m in reversed(messages):
            if isinstance(m, AssistantMessage):
                field = (m.provider_content or [{}])[0].get("guide_asked") if m.provider == self.name else None
                return next((q for q in questions() if q.field == field), None)
        return None

    def _ask(self, question: Question, prefix: str | None = None) -> Turn:
        text = prefix or question.ask + (f" ({', '.join(question.choices)})" if question.choices else "")
        return self._text(text, [{"guide_asked": question.field}])

    def _summary(self, messages: Sequence[Any]) -> str:
        lines = ["That completes the walk."]
        decisions = _results(messages, "decide_fit")
        if decisions:
            verdict = decisions[-1]
            lines.append(f"Recommendation: {verdict.get('recommendation', '?')}.")
        called = _called(messages)
        done = [name for name, _ in STEP_CALLS if name in called]
        if done:
            lines.append("Ran: " + ", ".join(done) + ".")
        return " ".join(lines)

    def _call(self, name: str, args: dict[str, Any], position: int) -> Turn:
        call = ToolCall(id=f"guide_{position}", name=name, arguments=json.loads(json.dumps(args, default=str)))
        return Turn(tool_calls=[call], stop_reason="tool_use", model=self.model, backend=self.name, cost_usd=0.0)

    def _text(self, text: str, content: list[dict[str, Any]] | None = None) -> Turn:
        return Turn(
            text=text,
            stop_reason="end_turn",
            model=self.model,
            backend=self.name,
            cost_usd=0.0,
            provider_content=content,
        )
