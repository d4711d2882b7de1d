"""The tool calls of the walk after the verdict, in order, and how each one's arguments are built from the files
the person named, their answers and earlier results. A plan returning None means the step cannot run yet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skill.guide.answers_file import GuideInputs


@dataclass(frozen=True)
class PlanContext:
    """What a step's arguments are built from: the inputs, the answers, earlier tool results."""

    inputs: GuideInputs
    answers: dict[str, Any]
    results: dict[str, dict[str, Any]]

    def answer(self, field: str) -> Any:
        value = self.answers.get(field)
        return None if value == "unknown" else value


def present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != []}


def clean_dataset(ctx: PlanContext) -> str | None:
    """The redacted copy when the PII scan of the dataset in use wrote one, else the person's dataset."""
    scan = ctx.results.get("scan_pii", {})
    redaction = scan.get("redaction") or {}
    if redaction.get("path") and scan.get("path") == ctx.inputs.dataset:
        return str(redaction["path"])
    return ctx.inputs.dataset


def split_path(ctx: PlanContext, split: str) -> str | None:
    parts = ctx.results.get("split_dataset", {}).get("parts") or []
    return next((p["path"] for p in parts if p["split"] == split), None)


def train_data(ctx: PlanContext) -> str | None:
    return split_path(ctx, "train") or clean_dataset(ctx)


def _plan_decide(ctx: PlanContext) -> dict[str, Any] | None:
    return present(**ctx.answers)


def _plan_validate(ctx: PlanContext) -> dict[str, Any] | None:
    paths = [p for p in (ctx.inputs.dataset, ctx.inputs.eval_set) if p]
    return {"paths": paths} if ctx.inputs.dataset else None


def _plan_pii(ctx: PlanContext) -> dict[str, Any] | None:
    data = ctx.inputs.dataset
    if not data:
        return None
    stem = data.rsplit(".", 1)[0]
    return {"path": data, "redact": f"{stem}.redacted.jsonl", "mode": "pseudonym"}


def _plan_compliance(ctx: PlanContext) -> dict[str, Any] | None:
    privacy = ctx.answer("privacy")
    regime = {"eu_personal_data": "gdpr", "health": "hipaa"}.get(privacy or "", "none")
    return present(
        regimes=[regime],
        residency=ctx.answer("region"),
        on_premises=True if privacy == "must_stay_on_premises" else None,
        pii_report=ctx.results.get("scan_pii", {}).get("report_json"),
    )


def _plan_split(ctx: PlanContext) -> dict[str, Any] | None:
    data = clean_dataset(ctx)
    return {"path": data} if data else None


def _plan_provider(ctx: PlanContext) -> dict[str, Any] | None:
    return present(
        privacy=ctx.answer("privacy"),
        region=ctx.answer("region"),
        model_family=ctx.answer("model_family"),
        deadline=ctx.answer("deadline"),
        examples=ctx.answer("quality_examples"),
    )


def plan_cost(ctx: PlanContext, monthly_requests: int | None = None) -> dict[str, Any] | None:
    if not ctx.inputs.dataset:
        return None
    return present(
        dataset=train_data(ctx),
        family=ctx.answer("model_family"),
        open_weight_model=ctx.inputs.base_model,
        monthly_requests=monthly_requests or ctx.answer("monthly_requests"),
        base_prompt_tokens=ctx.answer("current_prompt_tokens"),
        training_budget_usd=ctx.answer("training_budget_usd"),
        monthly_inference_budget_usd=ctx.answer("monthly_inference_budget_usd"),
    )


def plan_config(ctx: PlanContext) -> dict[str, Any] | None:
    return present(dataset=train_data(ctx), base_model=ctx.inputs.base_model) if ctx.inputs.dataset else None


def plan_launch(ctx: PlanContext) -> dict[str, Any] | None:
    """Training with the configured plan; confirm=true, so the person is asked before it starts."""
    config = ctx.results.get("configure_training")
    if not config or not config.get("plan_file"):
        return None
    batch = ctx.inputs.batch_size
    return present(
        data=train_data(ctx),
        eval_data=split_path(ctx, "val"),
        plan_file=config["plan_file"],
        max_steps=ctx.inputs.max_steps,
        per_device_batch_size=batch,
        gradient_accumulation_steps=1 if batch else None,
        confirm=True,
    )


def _plan_diagnose(ctx: PlanContext) -> dict[str, Any] | None:
    return {"path": ctx.inputs.training_log} if ctx.inputs.training_log else None


def _plan_inventory(ctx: PlanContext) -> dict[str, Any] | None:
    """The migrate step, from the local training file when there is one (no API key needed)."""
    model = ctx.inputs.openai_model
    return present(model=model, training_file=ctx.inputs.dataset) if model else None


def _plan_golden(ctx: PlanContext) -> dict[str, Any] | None:
    """A dry run: the prompts it would send and both prices; recording them needs the person's yes."""
    model = ctx.inputs.openai_model
    return present(model=model, eval_data=ctx.inputs.eval_set, training_data=ctx.inputs.dataset) if model else None


STEP_CALLS: list[tuple[str, Callable[[PlanContext], dict[str, Any] | None]]] = [
    ("decide_fit", _plan_decide),
    ("validate_jsonl", _plan_validate),
    ("scan_pii", _plan_pii),
    ("check_compliance", _plan_compliance),
    ("split_dataset", _plan_split),
    ("select_provider", _plan_provider),
    ("estimate_cost", plan_cost),
    ("configure_training", plan_config),
    ("launch_lora", plan_launch),
    ("diagnose_loss", _plan_diagnose),
    ("openai_inventory", _plan_inventory),
    ("record_golden_outputs", _plan_golden),
]
"""The tool calls of the walk, in order; a plan returning None skips the call. Arguments follow each
tool's input model; a tool that is not registered is skipped."""

PLANS = dict(STEP_CALLS)
