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
from tools.core.document import to_markdown
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
from tools.cost.money import money
from tools.cost.parts import gpu_options, inference_cost, training_cost
from tools.cost.paths import default_paths
from tools.cost.payback import break_even, sensitivity
from tools.cost.serving import option_facts
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


class _Prompts:
    """Prompt and answer lengths per request: given, else the dataset's means."""

    def __init__(self, req: CostRequest, counted: pm.DatasetTokens | None, assumptions: list[Assumption], today: str):
        mean_prompt = round(counted.mean(counted.prompt)) if counted else None
        self.base = req.base_prompt_tokens if req.base_prompt_tokens is not None else mean_prompt
        self.ft = (
            req.ft_prompt_tokens
            if req.ft_prompt_tokens is not None
            else (round(counted.mean(counted.prompt) - counted.mean(counted.system)) if counted else None)
        )
        self.out = (
            req.output_tokens
            if req.output_tokens is not None
            else (round(counted.mean(counted.output)) if counted else None)
        )
        if req.base_prompt_tokens is None and counted:
            what = f"{self.base} (dataset mean prompt incl. system)"
            assumptions.append(Assumption(what="base prompt tokens", value=what, source="dataset", as_of=today))
        if req.ft_prompt_tokens is None and counted:
            what = f"{self.ft} (dataset mean prompt without the system prompt, which the fine-tune learns)"
            assumptions.append(Assumption(what="fine-tuned prompt tokens", value=what, source="dataset", as_of=today))


def _notes(req: CostRequest, counted: pm.DatasetTokens | None, tokens: int | None, prompts: _Prompts) -> list[str]:
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
    if prompts.base is not None and prompts.ft is not None and prompts.ft > prompts.base:
        notes.append(
            f"ft_prompt_tokens ({prompts.ft}) is longer than base_prompt_tokens ({prompts.base}): "
            "a fine-tune usually shortens the prompt; check the inputs"
        )
    return notes


def _budgets(option: CostOption, req: CostRequest) -> None:
    cost = option.training.cost_usd
    if req.training_budget_usd is not None and cost is not None and cost > req.training_budget_usd:
        option.over_budget.append(
            f"training {money(cost)} exceeds the training budget {money(req.training_budget_usd)}"
        )
    inf = option.inference
    if req.monthly_inference_budget_usd is not None and inf and inf.ft_usd_per_month is not None:
        monthly = inf.ft_usd_per_month + (inf.fixed_usd_per_month or 0)
        if monthly > req.monthly_inference_budget_usd:
            option.over_budget.append(
                f"inference {money(monthly)}/month exceeds the monthly budget {money(req.monthly_inference_budget_usd)}"
            )


def _gpu_training(
    option: CostOption, params: float, tokens: int, req: CostRequest, assumptions: list[Assumption]
) -> None:
    option.gpu_options = gpu_options(option.method, params, tokens * option.training.epochs, req, assumptions)
    fitting = [g for g in option.gpu_options if g.fits and g.cost_usd is not None]
    if option.provider == "rented-gpu" and fitting:
        best = min(fitting, key=lambda g: g.cost_usd or 0)
        option.training.cost_usd = best.cost_usd
        option.training.hours = best.hours
        option.training.note = f"cheapest fitting offer: {best.gpus}x {best.gpu} at {best.vendor} ({best.tier})"
    elif option.provider == "rented-gpu":
        option.training.note = (
            "no GPU offer with a confirmed price fits; see gpus.yaml (older offers are last known only)"
        )
    elif option.provider == "self-hosted" and option.gpu_options:
        option.training.hours = option.gpu_options[0].hours
        option.training.note = "your own GPUs: no rental bill; hours shown per GPU type"


def _unique(assumptions: list[Assumption]) -> list[Assumption]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for a in assumptions:
        if (a.what, a.value) not in seen:
            seen.add((a.what, a.value))
            unique.append(a)
    return unique


@tool(effect="write", stage="cost")
def estimate_cost(req: CostRequest) -> CostEstimate:
    """Estimates what a fine-tune costs and whether it pays back: training cost from the real dataset's token count
    (with the target's billing rules: per-message overhead, epochs, validation tokens, minimum fees, hourly RFT),
    GPU hours and dollars for self-hosted or rented LoRA/QLoRA/full training, inference cost per request and per
    month for the base model with its long prompt vs the fine-tuned model with a short prompt (fine-tuned price
    premium and fixed hosting/storage fees included), break-even requests and time ("never" when the fine-tuned
    request is not cheaper, or when it would not pay back before the fine-tune's serving ends), and the
    sensitivity to epochs, volume and prompt length.

    Leave provider empty to compare every live path (filter with family); name provider and model to price one.
    A path that takes no new jobs is refused with its date even when named. Every price comes from reference/data
    with its source and date; a price past its expiry is reported as "last known ..., unconfirmed" and never
    computed with; unknown prices are reported as unknown. Use select_provider first, configure_training after.
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
    prompts = _Prompts(req, counted, assumptions, str(today))
    notes = _notes(req, counted, tokens, prompts)
    if any(p[0] in ("self-hosted", "rented-gpu") for p in paths) or req.open_weight_model:
        row = knowledge.training().constant("default_model_params_b")
        assumptions.append(
            Assumption(
                what="open-weight model size",
                value=f"{params:g}B ({params_from})",
                source=row.source,
                as_of=str(row.as_of),
            )
        )
    usage = knowledge.FactUsage(today)
    options: list[CostOption] = []
    for provider_id, model_id, method in paths:
        option = CostOption(
            provider=provider_id,
            model=model_id,
            method=method,
            training=training_cost(provider_id, model_id, method, tokens, examples, val_tokens, req, assumptions),
        )
        serving_until = option_facts(option, usage, notes)
        if provider_id in ("self-hosted", "rented-gpu") and tokens is not None:
            _gpu_training(option, params, tokens, req, assumptions)
            offers = [o for g in option.gpu_options if g.vendor for o in knowledge.gpus().offers_for(g.gpu)]
            usage.add([o for o in offers if o.vendor in {g.vendor for g in option.gpu_options}], file="gpus.yaml")
        option.inference = inference_cost(
            provider_id, model_id, params, prompts.base, prompts.ft, prompts.out, req, assumptions, notes
        )
        option.break_even = break_even(option.training.cost_usd, option.inference, serving_until, today)
        _budgets(option, req)
        options.append(option)
    options.sort(key=lambda o: (o.training.cost_usd is None, o.training.cost_usd or 0, o.provider, o.model))
    focus = next((o for o in options if o.training.cost_usd and o.inference), options[0] if options else None)
    window = (knowledge.known_date(focus.break_even.serving_until) if focus and focus.break_even else None, today)
    sens = (
        sensitivity(focus, window, tokens, examples, val_tokens, params, prompts.base, prompts.ft, prompts.out, req)
        if focus
        else []
    )
    result = CostEstimate(
        dataset=summary,
        options=options,
        excluded=excluded,
        sensitivity=sens,
        sensitivity_option=f"{focus.provider} / {focus.model}" if focus else None,
        assumptions=_unique(assumptions)[:25],
        notes=list(dict.fromkeys(notes)),
        warnings=usage.notices(),
        report=None,
    )
    if req.report:
        ws = current()
        target = ws.output_file(req.report, what="report")
        result.report = ws.relative(target)
        write_text_atomic(target, to_markdown(result.report_document(), level=1))
    return result
