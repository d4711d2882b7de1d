"""estimate_cost: training cost, GPU hours, inference cost base vs fine-tuned, fixed fees and break-even.

Every rate comes from ``reference/data`` (pricing.yaml, gpus.yaml, training.yaml) and every number
used is listed back with its source and as-of date. A null price in the data is said plainly, never
guessed. Formulas (research/providers-costs-eval.md 5.2):

- training: billed tokens x epochs x price per 1M (+ evals x validation tokens where billed), at
  least the minimum fee, at most the cap; hourly methods bill hours x rate;
- GPUs: FLOPs = k x N x D (k = 6 full, 4 LoRA), hours = FLOPs / (GPUs x peak x MFU);
- per request: prompt x input price + output x output price, base (long prompt) vs fine-tuned
  (short prompt, fine-tuned price); break-even requests = training cost / saving per request,
  monthly volume to cover fixed fees = fixed fees / saving; "never" when the saving is not positive.
"""

from __future__ import annotations

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import current, write_text_atomic
from tools.cost.models import (
    Assumption,
    CostEstimate,
    CostOption,
    CostRequest,
    DatasetSummary,
)
from tools.cost.parts import (
    break_even,
    default_paths,
    gpu_options,
    inference_cost,
    money,
    sensitivity,
    training_cost,
)
from tools.cost.report import write_report
from tools.plan import plan_math as pm


def _dataset(
    req: CostRequest, provider: str | None, model: str | None
) -> tuple[DatasetSummary | None, pm.DatasetTokens | None, int | None]:
    if not req.dataset:
        return None, None, None
    ws = current()
    path = ws.input_file(req.dataset, what="dataset")
    tokenizer = model if provider in ("openai", "azure-openai") else (req.open_weight_model or model)
    counted = pm.count_dataset(path, ws.relative(path), tokenizer)
    val = None
    if req.validation_dataset:
        vpath = ws.input_file(req.validation_dataset, what="validation dataset")
        val = pm.count_dataset(vpath, ws.relative(vpath), tokenizer).total
    summary = DatasetSummary(
        path=counted.path,
        examples=counted.examples,
        skipped_lines=counted.skipped_lines[:20],
        tokens_per_epoch=counted.total,
        mean_prompt_tokens=round(counted.mean(counted.prompt), 1),
        mean_system_tokens=round(counted.mean(counted.system), 1),
        mean_output_tokens=round(counted.mean(counted.output), 1),
        counter=counted.counter,
        approximate=counted.approximate,
    )
    return summary, counted, val


def _check(req: CostRequest) -> None:
    if req.dataset and req.training_tokens is not None:
        raise ToolError(
            "contradicting_inputs",
            "both dataset and training_tokens given",
            "give the dataset (tokens are counted) or training_tokens, not both",
        )
    if req.mfu is not None and not 0 < req.mfu <= 1:
        raise ToolError("bad_mfu", f"mfu={req.mfu} must be a fraction in (0, 1]", "e.g. 0.3")
    if req.epochs is not None and req.epochs > knowledge.training().constant("openai_max_default_epochs").value * 4:
        raise ToolError("bad_epochs", f"epochs={req.epochs:g} is implausible for fine-tuning", "1-3 is usual")
    absurd = knowledge.decision().threshold("absurd_monthly_requests")
    if req.monthly_requests is not None and req.monthly_requests > absurd.value:
        raise ToolError(
            "bad_monthly_requests", f"monthly_requests={req.monthly_requests:,} is implausible", absurd.rationale
        )
    if req.hosting:
        host_provider, _, deployment = req.hosting.partition("/")
        known = knowledge.pricing().hosting
        if not any(r.provider == host_provider and r.deployment == deployment for r in known):
            raise ToolError(
                "unknown_hosting",
                f"hosting={req.hosting!r}: no such provider/deployment in pricing.yaml",
                "known: " + ", ".join(f"{r.provider}/{r.deployment}" for r in known),
            )
    if req.base_model and not req.provider and not req.base_provider:
        raise ToolError("missing_provider", "base_model needs provider (or base_provider)", "e.g. provider=openai")


@tool(effect="write", stage="cost")
def estimate_cost(req: CostRequest) -> CostEstimate:
    """Estimates what a fine-tune costs and whether it pays back: training cost from the real dataset's token count
    (with the target's billing rules: per-message overhead, epochs, validation tokens, minimum fees, hourly RFT),
    GPU hours and dollars for self-hosted or rented LoRA/QLoRA/full training, inference cost per request and per
    month for the base model with its long prompt vs the fine-tuned model with a short prompt (fine-tuned price
    premium and fixed hosting/storage fees included), break-even requests and months ("never" when the fine-tuned
    request is not cheaper), and the sensitivity to epochs, volume and prompt length.

    Leave provider empty to compare every live path (filter with family); name provider and model to
    price one. Every price comes from reference/data with its source and as-of date; unknown prices are
    reported as unknown. Use select_provider first to choose paths, configure_training afterwards.
    """
    _check(req)
    today = knowledge.today()
    paths, excluded = default_paths(req, today)
    summary, counted, val_tokens = _dataset(req, req.provider, req.model or (paths[0][1] if paths else None))
    tokens = counted.total if counted else req.training_tokens
    examples = counted.examples if counted else req.examples
    if val_tokens is None:
        val_tokens = req.validation_tokens
    params, params_from = pm.model_size(req.open_weight_model, req.model_params_b)
    assumptions: list[Assumption] = []
    notes: list[str] = []
    if tokens is None and req.training_hours is None:
        notes.append("no dataset and no training_tokens: training cost not computed (give one of them)")
    if counted and counted.approximate:
        notes.append(
            f"token counts are approximate ({counted.counter}); the target's own tokenizer may differ by a few percent"
        )
    if counted and counted.skipped_lines:
        notes.append(
            f"{len(counted.skipped_lines)} unusable line(s) not counted: "
            f"{', '.join(map(str, counted.skipped_lines[:10]))}"
        )

    base_prompt = (
        req.base_prompt_tokens
        if req.base_prompt_tokens is not None
        else (round(counted.mean(counted.prompt)) if counted else None)
    )
    ft_prompt = (
        req.ft_prompt_tokens
        if req.ft_prompt_tokens is not None
        else (round(counted.mean(counted.prompt) - counted.mean(counted.system)) if counted else None)
    )
    out_tokens = (
        req.output_tokens
        if req.output_tokens is not None
        else (round(counted.mean(counted.output)) if counted else None)
    )
    if req.base_prompt_tokens is None and counted:
        assumptions.append(
            Assumption(
                what="base prompt tokens",
                value=f"{base_prompt} (dataset mean prompt incl. system)",
                source="dataset",
                as_of=str(today),
            )
        )
    if req.ft_prompt_tokens is None and counted:
        assumptions.append(
            Assumption(
                what="fine-tuned prompt tokens",
                value=f"{ft_prompt} (dataset mean prompt without the system prompt, which the fine-tune learns)",
                source="dataset",
                as_of=str(today),
            )
        )
    if base_prompt is not None and ft_prompt is not None and ft_prompt > base_prompt:
        notes.append(
            f"ft_prompt_tokens ({ft_prompt}) is longer than base_prompt_tokens ({base_prompt}): "
            "a fine-tune usually shortens the prompt; check the inputs"
        )
    if any(p[0] in ("self-hosted", "rented-gpu") for p in paths) or req.open_weight_model:
        assumptions.append(
            Assumption(
                what="open-weight model size",
                value=f"{params:g}B ({params_from})",
                source=knowledge.training().constant("default_model_params_b").source,
                as_of=str(knowledge.training().constant("default_model_params_b").as_of),
            )
        )

    options: list[CostOption] = []
    for provider_id, model_id, method in paths:
        option = CostOption(
            provider=provider_id,
            model=model_id,
            method=method,
            training=training_cost(provider_id, model_id, method, tokens, examples, val_tokens, req, assumptions),
        )
        if provider_id in ("self-hosted", "rented-gpu") and tokens is not None:
            option.gpu_options = gpu_options(method, params, tokens * option.training.epochs, req, assumptions)
            fitting = [g for g in option.gpu_options if g.fits and g.cost_usd is not None]
            if provider_id == "rented-gpu" and fitting:
                best = min(fitting, key=lambda g: g.cost_usd or 0)
                option.training.cost_usd = best.cost_usd
                option.training.hours = best.hours
                option.training.note = f"cheapest fitting offer: {best.gpus}x {best.gpu} at {best.vendor} ({best.tier})"
            elif provider_id == "self-hosted" and option.gpu_options:
                first = option.gpu_options[0]
                option.training.hours = first.hours
                option.training.note = "your own GPUs: no rental bill; hours shown per GPU type"
        option.inference = inference_cost(
            provider_id, model_id, params, base_prompt, ft_prompt, out_tokens, req, assumptions, notes
        )
        option.break_even = break_even(option.training.cost_usd, option.inference)
        if (
            req.training_budget_usd is not None
            and option.training.cost_usd is not None
            and option.training.cost_usd > req.training_budget_usd
        ):
            option.over_budget.append(
                f"training {money(option.training.cost_usd)} exceeds the training budget "
                f"{money(req.training_budget_usd)}"
            )
        if (
            req.monthly_inference_budget_usd is not None
            and option.inference
            and option.inference.ft_usd_per_month is not None
        ):
            monthly = option.inference.ft_usd_per_month + (option.inference.fixed_usd_per_month or 0)
            if monthly > req.monthly_inference_budget_usd:
                option.over_budget.append(
                    f"inference {money(monthly)}/month exceeds the monthly budget "
                    f"{money(req.monthly_inference_budget_usd)}"
                )
        try:
            option.warnings = [w.message for w in knowledge.offering_warnings(provider_id, model_id)]
        except ToolError:
            option.warnings = knowledge.warning_texts([knowledge.providers().provider(provider_id)])
        provider_row = knowledge.providers().provider(provider_id)
        if provider_row.status == "closing" and provider_row.available_until:
            notes.append(
                f"{provider_id} is a legacy path: {provider_row.name} takes no new fine-tuning jobs after "
                f"{provider_row.available_until} ({provider_row.until_note or provider_row.status})"
            )
        options.append(option)
    options.sort(key=lambda o: (o.training.cost_usd is None, o.training.cost_usd or 0, o.provider, o.model))
    focus = next((o for o in options if o.training.cost_usd and o.inference), options[0] if options else None)
    sens = (
        sensitivity(focus, tokens, examples, val_tokens, params, base_prompt, ft_prompt, out_tokens, req)
        if focus
        else []
    )
    warnings = sorted({w for o in options for w in o.warnings})
    if len(options) > 1:  # comparing: warnings once, at the top
        for o in options:
            o.warnings = []
    notes = list(dict.fromkeys(notes))
    seen: set[tuple[str, str]] = set()
    unique = []
    for a in assumptions:
        if (a.what, a.value) not in seen:
            seen.add((a.what, a.value))
            unique.append(a)
    result = CostEstimate(
        dataset=summary,
        options=options,
        excluded=excluded,
        sensitivity=sens,
        sensitivity_option=f"{focus.provider} / {focus.model}" if focus else None,
        assumptions=unique[:25],
        notes=notes,
        warnings=warnings,
        report=None,
    )
    if req.report:
        ws = current()
        target = ws.output_file(req.report, what="report")
        write_text_atomic(target, write_report(result))
        result.report = ws.relative(target)
    return result
