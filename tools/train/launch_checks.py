"""What launch_lora checks before a run starts: the objective's settings, the preflight, and the warnings a person
should read (many epochs over little data, a batch larger than the data, an eval split of one example)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.knowledge.lora_defaults import load_defaults
from tools.local_models.loader import ModelRef, load_tokenizer, stop_token_ids
from tools.local_models.preflight import PreflightReport, preflight
from tools.local_models.templates import template_name
from tools.plan.training_plan import TrainingPlan, tiny_model_learning_rate
from tools.train.data import DataSet


def merge_plan(
    ws: Workspace, plan: TrainingPlan | None, plan_file: str | None, overrides: dict[str, Any], lora_r: int | None
) -> TrainingPlan:
    """The plan a launch trains with: a plan or a plan file (a run's config.json works too), the overrides on top,
    the tiny model's own learning rate, and a new rank that keeps the plan's alpha/r ratio."""
    base: dict[str, Any] = {}
    if plan is not None and plan_file is not None:
        raise ToolError("two_plans", "both plan and plan_file were given", "give one of them")
    if plan is not None:
        base = plan.model_dump(exclude_unset=True)
    elif plan_file is not None:
        path = ws.input_file(plan_file, what="plan file")
        try:
            base = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise ToolError(
                "plan_invalid", f"{plan_file}: not valid JSON ({exc})", "write the plan as a JSON object"
            ) from None
        if isinstance(base, dict) and isinstance(base.get("plan"), dict):
            base = base["plan"]
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    tiny_lr = tiny_model_learning_rate(str(merged.get("base_model", "")))
    if tiny_lr is not None and "learning_rate" not in merged:
        merged["learning_rate"] = tiny_lr[0]
    if lora_r is not None:
        d = load_defaults()
        ratio = float(merged.get("lora_alpha", d.number("lora_alpha"))) / float(
            merged.get("lora_r", d.number("lora_r"))
        )
        merged["lora_r"] = lora_r
        merged["lora_alpha"] = ratio * lora_r
    try:
        return TrainingPlan.model_validate(merged)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        raise ToolError(
            "plan_invalid",
            "the training plan is invalid: " + "; ".join(parts[:5]),
            "fix the named fields (see TrainingPlan in tools/plan/training_plan.py)",
        ) from None


def check_objective(ws: Workspace, plan: TrainingPlan, objective: str, procs: int) -> None:
    """ToolError when the objective's settings cannot run (GRPO batch and rewards)."""
    if objective != "grpo":
        return
    if plan.per_device_batch_size % plan.num_generations:
        raise ToolError(
            "grpo_batch",
            f"GRPO: per_device_batch_size {plan.per_device_batch_size} is not a multiple of num_generations "
            f"{plan.num_generations} (the batch counts completions, num_generations per prompt)",
            f"set per_device_batch_size to {plan.num_generations} or a multiple of it",
        )
    if plan.reward_json_schema:
        ws.input_file(plan.reward_json_schema, what="reward JSON schema")
    if "schema_valid" in plan.rewards and not plan.reward_json_schema:
        raise ToolError("reward_needs_setting", "reward schema_valid needs reward_json_schema", "give the schema file")
    for name, setting in (
        ("contains_all", plan.reward_contains),
        ("regex_match", plan.reward_regex),
        ("label_accuracy", plan.reward_labels),
    ):
        if name in plan.rewards and not setting:
            raise ToolError(
                "reward_needs_setting",
                f"reward {name} needs its setting (reward_{name.split('_')[0]})",
                "give the strings, pattern or labels it checks",
            )


def run_preflight(ref: ModelRef, plan: TrainingPlan, data: DataSet, *, samples: int) -> PreflightReport:
    """The preflight over the data (its first examples, up to the configured number) with the model's tokenizer."""
    d = load_defaults()
    tokenizer = load_tokenizer(ref)
    template = template_name(tokenizer)
    limit = int(d.number("preflight_max_examples"))
    return preflight(
        tokenizer,
        (r.example for r in data.records[:limit]),
        max_seq_len=plan.max_seq_len,
        stop_ids=stop_token_ids(ref, tokenizer),
        max_truncated_share=d.number("preflight_max_truncated_share"),
        template=template,
        samples=samples,
        label=data.path,
    )


def launch_warnings(plan: TrainingPlan, n_train: int, n_eval: int, procs: int, steps_per_epoch: int) -> list[str]:
    d = load_defaults()
    out = []
    epochs = plan.num_epochs if not plan.max_steps else plan.max_steps / steps_per_epoch
    if epochs > d.number("warn_epochs_over") and n_train < d.number("warn_examples_under"):
        out.append(
            f"{epochs:g} epochs over {n_train} examples: many passes over little data memorise it; 1-3 epochs is "
            "usual (more data helps more than more epochs)"
        )
    batch = plan.effective_batch * procs
    if batch > n_train:
        out.append(
            f"the effective batch ({batch} examples per step) is larger than the training data ({n_train}): every "
            "step sees all of it; lower per_device_batch_size or gradient_accumulation_steps"
        )
    if n_eval == 1:
        out.append("the eval split holds one example: its loss says little; give eval_data or raise eval_fraction")
    if plan.effective_batch > 32:
        out.append(
            f"effective batch {plan.effective_batch} > 32: LoRA learns worse with very large batches (TRL LoRA "
            "without regret)"
        )
    return out


__all__ = ["check_objective", "launch_warnings", "merge_plan", "run_preflight"]
