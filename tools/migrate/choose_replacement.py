"""choose_replacement: an open-weight base sized for the old model, and the paths to train and serve it, priced
against what the OpenAI fine-tune costs today.

The size comes from the OpenAI base family (migration.yaml: start with these bases; the next ones when the
parity check fails), or from the person. The paths are select_provider's open-weight options (your GPUs, rented
GPUs, Together...) with the day the old model stops serving as the deadline, so a path that would close before
then is left out with its date; each of the first few is priced by estimate_cost on the real training file.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools import knowledge
from tools.core.document import to_markdown
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_text_atomic
from tools.cost.estimate_cost import estimate_cost
from tools.cost.models import CostOption, CostRequest
from tools.cost.money import money, round_usd
from tools.migrate.facts import ModelDates, base_of, folder_of, migration, model_dates, rates
from tools.migrate.models import ChooseReplacementRequest, ChooseReplacementResult, ReplacementOption
from tools.migrate.openai_inventory import recorded_training_file
from tools.migrate.record_golden_outputs import read_meta
from tools.migrate.serving_cost import gpu_serving, now_cost
from tools.plan import plan_math as pm
from tools.providers.models import ProviderRequest
from tools.providers.select_provider import select_provider

GPU_PATHS = ("self-hosted", "rented-gpu")


def _training_path(ws: Workspace, req: ChooseReplacementRequest) -> Path:
    if req.training_data:
        return ws.input_file(req.training_data, what="training data")
    meta = read_meta(ws.root / folder_of(req.model)) or {}
    rest = meta.get("train_rest")
    if rest and (ws.root / rest).is_file():
        return ws.root / rest  # the training file without the prompts the golden outputs were recorded on
    recorded = recorded_training_file(ws, req.model)
    if recorded is not None:
        return recorded
    raise ToolError(
        "no_training_data",
        f"no training data for {req.model}: none given and no copy from openai_inventory",
        "give training_data, or run openai_inventory first (it downloads the training file)",
    )


def _size(req: ChooseReplacementRequest, base: str) -> tuple[float, str, list[str]]:
    """(size class in billions, why, the bases to name: "id (licence)")."""
    facts = migration()
    if req.open_weight_model:
        row = facts.base(req.open_weight_model)
        size, source = (
            (row.params_b, "migration.yaml") if row else pm.model_size(req.open_weight_model, req.model_size_b)
        )
        licence = f" ({row.licence})" if row else ""
        return size, f"{req.open_weight_model}{licence}, as asked ({size:g}B, {source})", [req.open_weight_model]
    if req.model_size_b is not None:
        return req.model_size_b, f"a {req.model_size_b:g}B base, as asked (name it with open_weight_model)", []
    row = facts.replacement(base)
    if row is None:
        size, source = pm.model_size(None, None)
        return size, f"{base} has no size rule in migration.yaml: the default {size:g}B class ({source})", []
    start = [b for b in (facts.base(i) for i in row.start_bases) if b is not None]
    nxt = [b for b in (facts.base(i) for i in row.next_bases) if b is not None]
    size = max(b.params_b for b in start)
    why = (
        f"{base} ({row.openai_family} family): start with a ~{size:g}B base ({row.source}); if the parity check "
        f"fails, try {', '.join(b.id for b in nxt) or 'a larger one'}"
    )
    return size, why, [f"{b.id} ({b.licence})" for b in start]


def _base_for(provider: str, bases: list[str], size: float) -> str:
    """The base to name for a path: on Together the one it serves per token, when there is one."""
    facts = migration()
    ids = [b.split(" (", 1)[0] for b in bases]
    if provider == "together":
        served = [facts.base(i) for i in ids]
        for row in served:
            if row is not None and row.together_id:
                return row.together_id
    return ids[0] if ids else f"a ~{size:g}B open-weight base"


def _serving(
    option: ReplacementOption, est: CostOption, req: ChooseReplacementRequest, size: float, usage: knowledge.FactUsage
) -> None:
    inf = est.inference
    if inf is not None:
        option.per_request_usd = inf.ft_usd_per_request
        if inf.ft_usd_per_month is not None:
            option.monthly_usd = round_usd(inf.ft_usd_per_month + inf.fixed_usd_per_month)
        option.fixed_fees = inf.fixed_items
        option.over_budget += [o for o in est.over_budget if o.startswith("inference")]
        return
    if option.provider == "rented-gpu":
        gpu = gpu_serving(size, usage)
        if gpu is not None:
            option.monthly_usd = round_usd(gpu.monthly_usd)
            option.notes.append(f"serving: {gpu.text}")
            budget = req.monthly_budget_usd
            if budget is not None and gpu.monthly_usd > budget:
                option.over_budget.append(f"serving {money(gpu.monthly_usd)}/month exceeds the budget {money(budget)}")
        return
    if option.provider == "self-hosted":
        option.notes.append("serving on your own GPUs: no per-token bill; the cost is your hardware's time")


def _option(
    rank: int, o: object, path: Path, req: ChooseReplacementRequest, ctx: tuple[float, float, float, list[str]]
) -> tuple[ReplacementOption, CostOption | None, list[str]]:
    """One ranked path, priced by estimate_cost: (the option, the estimate's first option, notes for everyone)."""
    size, prompt, output, bases = ctx
    provider, model, method = o.provider, o.model, o.method  # type: ignore[attr-defined]
    base = _base_for(provider, bases, size)
    opt = ReplacementOption(
        rank=rank,
        provider=provider,
        path=model,
        method=method,
        base=base,
        serving=o.serving,  # type: ignore[attr-defined]
        training_usd=None,
        training_price="",
        closes=o.available_until,  # type: ignore[attr-defined]
    )
    try:
        est = estimate_cost(
            CostRequest(
                dataset=str(path),
                provider=provider,
                model=None if provider in GPU_PATHS else model,
                method=method,
                open_weight_model=base if "/" in base else None,
                model_params_b=size,
                monthly_requests=req.monthly_requests,
                base_prompt_tokens=round(prompt),
                ft_prompt_tokens=round(prompt),
                output_tokens=round(output),
                monthly_inference_budget_usd=req.monthly_budget_usd,
            )
        )
    except ToolError as exc:
        opt.notes.append(f"not priced: {exc.message}")
        return opt, None, []
    first = est.options[0]
    opt.training_usd = first.training.cost_usd
    opt.training_price = first.training.price_text or first.training.note or first.training.price_status
    if first.training.note and first.training.note != opt.training_price:
        opt.notes.append(first.training.note)
    opt.notes += [n for n in est.notes if n.startswith(f"{provider} /")]
    shared = [n for n in est.notes if "approximate" not in n and not n.startswith(f"{provider} /")]
    return opt, first, est.warnings + shared


def _report(ws: Workspace, folder: Path, result: ChooseReplacementResult) -> None:
    """replacement.json (the result) and replacement.md (every option, with its notes)."""
    folder.mkdir(parents=True, exist_ok=True)
    js = ws.output_file(folder / "replacement.json", what="replacement")
    md = ws.output_file(folder / "replacement.md", what="replacement report")
    result.file, result.report = ws.relative(js), ws.relative(md)
    write_text_atomic(js, result.model_dump_json(indent=2) + "\n")
    lines = [to_markdown(result.document(), level=1)]
    lines.append("## Every option\n")
    for o in result.options:
        lines.append(
            f"- {o.rank}. **{o.provider} / {o.path}** ({o.method}) on {o.base}: training "
            f"{money(o.training_usd) if o.training_usd is not None else 'unknown'} ({o.training_price}); serving "
            f"{money(o.monthly_usd) + '/month' if o.monthly_usd is not None else 'not per token (see notes)'}"
        )
        lines += [f"  - {n}" for n in o.notes + o.fixed_fees + o.over_budget]
    if result.excluded:
        lines.append("\n## Left out\n")
        lines += [f"- {e}" for e in result.excluded]
    write_text_atomic(md, "\n".join(lines) + "\n")


def _excluded(ranking_excluded: list[object]) -> list[str]:
    out = []
    for e in ranking_excluded:
        reason = str(e.reason)  # type: ignore[attr-defined]
        if "is not 'open-weight'" in reason:
            continue
        out.append(f"{e.provider} / {e.model or '*'}: {reason}")  # type: ignore[attr-defined]
    return out[:12]


def _deadline(dates: ModelDates) -> object:
    return dates.serving_until if dates.serving and dates.serving_until else None


@tool(effect="write", stage="migrate")
def choose_replacement(req: ChooseReplacementRequest) -> ChooseReplacementResult:
    """Choose the open-weight replacement of an OpenAI fine-tune: a base sized by the OpenAI model's family (or the
    person's choice), the places to train and serve a LoRA of it (your GPUs, rented GPUs, Together...) ranked by
    select_provider with the old model's serving end as the deadline (paths that close before it are left out with
    their date), each priced by estimate_cost on the real training file, against what the fine-tune costs today at
    OpenAI's per-token price. A monthly serving budget flags the paths that cost more.

    Reads reference/data only (no API call); writes migrations/<model>/replacement.json and replacement.md. Train the
    chosen base with launch_lora (local) or launch_provider_job (Together), then compare with migration_report."""
    ws = current()
    usage = knowledge.FactUsage()
    base = base_of(req.model)
    dates = model_dates(base, usage)
    path = _training_path(ws, req)
    counted = pm.count_dataset(path, ws.relative(path), base)
    prompt, output = counted.mean(counted.prompt), counted.mean(counted.output)
    standard = rates(base, usage)[0]
    now = now_cost(standard, prompt, output, req.monthly_requests)
    size, why, bases = _size(req, base)
    ranking = select_provider(
        ProviderRequest(
            model_family="open-weight",
            model_size_b=size,
            method="sft_lora",
            deadline=_deadline(dates),  # type: ignore[arg-type]
            region=req.region,
            data_may_leave=req.data_may_leave,
            training_tokens=counted.total,
        )
    )
    options: list[ReplacementOption] = []
    notes: list[str] = []
    for rank, o in enumerate(ranking.options[: req.options], 1):
        opt, estimate, extra = _option(rank, o, path, req, (size, prompt, output, bases))
        if estimate is not None:
            _serving(opt, estimate, req, size, usage)
        options.append(opt)
        notes += extra
    warnings = list(dict.fromkeys(ranking.warnings + notes + usage.notices()))
    if not dates.serving:
        warnings.insert(0, f"{req.model} stopped serving on {dates.serving_until}: today's cost is what it was")
    if counted.approximate:
        warnings.append(f"token counts are approximate ({counted.counter})")
    result = ChooseReplacementResult(
        model=req.model,
        base=base,
        serving_until=dates.serving_until,
        days_left=dates.days_left,
        size_b=size,
        size_reason=why,
        bases=bases,
        mean_prompt_tokens=round(prompt, 1),
        mean_output_tokens=round(output, 1),
        now_rates=now.rates,
        now_per_request_usd=now.per_request_usd,
        now_monthly_usd=None if now.monthly_usd is None else round_usd(now.monthly_usd),
        options=options,
        excluded=_excluded(ranking.excluded),
        file="",
        report="",
        warnings=warnings[:12],
    )
    _report(ws, ws.resolve(folder_of(req.model), what="migration folder"), result)
    return result


def read_replacement(ws: Workspace, model: str) -> ChooseReplacementResult | None:
    """What choose_replacement wrote for ``model``, if it ran."""
    path = ws.root / folder_of(model) / "replacement.json"
    if not path.is_file():
        return None
    try:
        return ChooseReplacementResult.model_validate(json.loads(path.read_text("utf-8")))
    except ValueError:
        return None


__all__ = [
    "ChooseReplacementRequest",
    "ChooseReplacementResult",
    "choose_replacement",
    "read_replacement",
]
