"""The arithmetic of estimate_cost: which paths, training / GPU / inference cost, break-even, sensitivity.

Rates come only from reference/data through tools.knowledge; each one used is recorded as an
:class:`Assumption` with its source and as-of date.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.models import (
    Assumption,
    BreakEven,
    CostOption,
    CostRequest,
    GpuOption,
    InferenceCost,
    Sensitivity,
    TrainingCost,
)
from tools.plan import plan_math as pm

DIGITS = 6


def money(x: float) -> str:
    if x == 0:
        return f"${x:.0f}"
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.6f}".rstrip("0")


def round_usd(x: float) -> float:
    """Money kept to six decimals (per-request prices are fractions of a cent)."""
    return round(x, DIGITS)


def assumption(what: str, value: Any, row: Any) -> Assumption:
    return Assumption(
        what=what, value=str(value), source=getattr(row, "source", ""), as_of=str(getattr(row, "as_of", ""))
    )


SFT_METHODS = ("sft", "sft_lora")
GPU_METHOD = {
    "sft_lora": "lora",
    "sft_qlora": "qlora",
    "sft_full": "full",
    "dpo_lora": "lora",
    "dpo_full": "full",
    "grpo_lora": "lora",
    "grpo_full": "full",
}
MAX_GPU_OPTIONS = 4


# --------------------------------------------------------------------------------------------------
# Which paths
# --------------------------------------------------------------------------------------------------


def _ended(until: date | None, today: date) -> bool:
    return until is not None and until <= today


def default_paths(req: CostRequest, today: date) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(provider, model, method) to price, and the paths left out with why."""
    prov = knowledge.providers()
    price = knowledge.pricing()
    if req.provider:
        p = prov.provider(req.provider)
        if p.kind == "eval_service":
            raise ToolError(
                "not_a_training_path", f"provider {p.id!r} is not a fine-tuning path", "choose a training provider"
            )
        if p.kind in ("self_hosted", "rented_gpu"):
            model = p.models[0].id if p.models else "open-weight-any"
            return [(p.id, model, req.method or "sft_lora")], []
        if not req.model:
            raise ToolError(
                "missing_model",
                f"provider {p.id!r} needs a model",
                "known models: " + ", ".join(m.id for m in p.models),
            )
        rows = [r for r in price.training if r.provider == p.id]
        model_id = pm.match_model_id(sorted({r.model for r in rows} | {m.id for m in p.models}), req.model)
        if model_id is None:
            p.model(req.model)  # raises unknown_model naming the known ones
            model_id = req.model
        methods = sorted({r.method for r in rows if r.model == model_id})
        method = req.method or next((m for m in SFT_METHODS if m in methods), methods[0] if methods else "sft")
        if methods and method not in methods:
            raise ToolError(
                "unknown_method",
                f"{p.id} / {model_id} is not priced for method {method!r}",
                "priced methods: " + ", ".join(methods),
            )
        return [(p.id, model_id, method)], []
    params, _ = pm.model_size(req.open_weight_model, req.model_params_b)
    paths: list[tuple[str, str, str]] = []
    excluded: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in price.training:
        if row.method not in SFT_METHODS or (row.provider, row.model) in seen:
            continue
        p = prov.provider(row.provider)
        model = next((m for m in p.models if m.id == row.model), None)
        if model is None:
            continue
        if not pm.family_matches(p, model, req.family):
            continue
        if pm.fits_size_class(row.model, params) is False:
            continue
        named = model.params_b is not None and pm.size_class_bounds(row.model) is None
        if named and row.model.lower() not in (req.open_weight_model or "").lower():
            continue  # a specific large model (gpt-oss-120b): priced only when asked for by name
        seen.add((row.provider, row.model))
        until = p.model_until(model)
        if p.status in ("ended", "deprecated") or _ended(until, today) or _ended(row.available_until, today):
            when = until or row.available_until or p.available_until
            excluded.append(f"{row.provider} / {row.model}: {'ended on ' + str(when) if when else p.status}")
            continue
        paths.append((row.provider, row.model, row.method))
    for pid in ("self-hosted", "rented-gpu"):
        p = prov.provider(pid)
        if pm.family_matches(p, p.models[0], req.family):
            paths.append((pid, p.models[0].id, req.method or "sft_lora"))
    if not paths:
        raise ToolError(
            "no_paths", f"no live fine-tuning path matches family={req.family!r}", "widen the family or name a provider"
        )
    return paths, excluded


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def training_cost(
    provider: str,
    model: str,
    method: str,
    tokens: int | None,
    examples: int | None,
    val_tokens: int | None,
    req: CostRequest,
    assumptions: list[Assumption],
) -> TrainingCost:
    if req.epochs is not None:
        epochs, why = req.epochs, "given"
    elif provider in ("openai", "azure-openai") and examples:
        auto, why = pm.openai_auto_epochs(examples)
        epochs = float(auto)
    else:
        epochs, why = pm.epochs_for(examples)
    out = TrainingCost(epochs=epochs, epochs_reason=why)
    if provider in ("self-hosted", "rented-gpu"):
        out.unit = "gpu"
        out.billing = "GPU hours x rate per GPU-hour (gpus.yaml); see gpu_options"
        out.billed_tokens = round(tokens * epochs) if tokens is not None else None
        return out
    rows = [
        r for r in knowledge.pricing().training if r.provider == provider and r.model == model and r.method == method
    ]
    if not rows:
        out.note = f"no training price for {provider} / {model} / {method} in pricing.yaml"
        return out
    row = rows[0]
    out.unit, out.price_usd, out.billing = row.unit, row.price_usd, row.billing
    assumptions.append(
        assumption(
            f"training rate {provider} / {model} ({method})",
            "unknown" if row.price_usd is None else f"{row.price_usd:g} USD {row.unit}",
            row,
        )
    )
    if row.price_usd is None:
        out.note = (
            f"no trusted training price for {provider} / {model} ({method}) in our data"
            + (f": {row.note}" if row.note else "")
            + f"; check {row.source}"
        )
        return out
    if row.unit == "free":
        out.cost_usd = 0.0
        out.billed_tokens = round(tokens * epochs) if tokens is not None else None
    elif row.unit == "per_1m_tokens":
        if tokens is None:
            out.note = "give a dataset or training_tokens to price training"
            return out
        billed = tokens * epochs
        if val_tokens and "validation" in (row.billing or "") and "free" not in (row.billing or ""):
            evals = req.n_evals if req.n_evals is not None else 0
            billed += evals * val_tokens
        out.billed_tokens = round(billed)
        out.cost_usd = round_usd(billed / pm.PER_MILLION * row.price_usd)
    elif row.unit in ("per_hour", "per_gpu_hour"):
        if req.training_hours is None:
            out.note = f"billed per hour ({row.billing}); give training_hours to price it"
            return out
        out.hours = req.training_hours
        out.cost_usd = round_usd(req.training_hours * row.price_usd)
    if out.cost_usd is not None and row.min_fee_usd and out.cost_usd < row.min_fee_usd:
        out.cost_usd, out.min_fee_applied = row.min_fee_usd, True
    if out.cost_usd is not None and row.max_fee_usd is not None and out.cost_usd > row.max_fee_usd:
        out.cost_usd, out.cap_applied = row.max_fee_usd, True
    return out


def gpu_options(
    method: str, params_b: float, tokens: float, req: CostRequest, assumptions: list[Assumption]
) -> list[GpuOption]:
    """Per GPU type: memory need, how many GPUs, hours at the MFU, the cheapest offer."""
    gpu_method = GPU_METHOD.get(method)
    if gpu_method is None:
        raise ToolError(
            "unknown_method",
            f"method {method!r} cannot run on self-managed GPUs",
            "use sft_lora, sft_qlora or sft_full",
        )
    train = knowledge.training()
    gfile = knowledge.gpus()
    need = pm.training_memory(gpu_method, params_b)
    flops, frow = pm.training_flops(gpu_method, params_b, tokens)
    mfu_row = train.constant("mfu_planning")
    mfu = req.mfu if req.mfu is not None else mfu_row.value
    assumptions.append(assumption("FLOPs per parameter per token", f"{frow.value:g} ({gpu_method})", frow))
    assumptions.append(assumption("MFU", f"{mfu:g}" + (" (given)" if req.mfu is not None else ""), mfu_row))
    for row in need.rows:
        assumptions.append(
            assumption(
                f"memory rule {getattr(row, 'id', getattr(row, 'method', ''))}",
                getattr(row, "value", getattr(row, "bytes_per_param", "")),
                row,
            )
        )
    gpus = [gfile.gpu(req.gpu)] if req.gpu else gfile.gpus
    out: list[GpuOption] = []
    for g in gpus:
        n = pm.gpus_needed(need.total_gb, g.memory_gb)
        fits = n == 1
        hours = None
        if g.bf16_dense_tflops:
            hours = flops / (n * g.bf16_dense_tflops * pm.TERA * mfu) / pm.SECONDS_IN_HOUR
        measured = next(
            (
                m
                for m in train.measured_throughput
                if m.gpu == g.id and m.model_params_b == params_b and pm.GPU_METHOD_OF.get(m.method) == gpu_method
            ),
            None,
        )
        measured_hours = tokens / (measured.tokens_per_second * pm.SECONDS_IN_HOUR) if measured else None
        if hours is None and measured_hours is None:
            continue
        option = GpuOption(
            gpu=g.id,
            gpus=n,
            memory_need_gb=round(need.total_gb, 1),
            gpu_memory_gb=g.memory_gb,
            fits=fits,
            hours=round(hours, 3) if hours is not None else None,
            measured_hours=round(measured_hours, 3) if measured_hours is not None else None,
        )
        offers = gfile.offers_for(g.id)
        use_hours = measured_hours if measured_hours is not None else hours
        if offers and use_hours is not None:
            best = offers[0]
            option.vendor, option.tier, option.usd_per_gpu_hour = best.vendor, best.tier, best.usd_per_gpu_hour
            option.cost_usd = round_usd(use_hours * n * best.usd_per_gpu_hour)
            assumptions.append(
                assumption(f"{g.id} at {best.vendor} ({best.tier})", f"{best.usd_per_gpu_hour:g} USD/GPU-hour", best)
            )
        if g.bf16_dense_tflops:
            assumptions.append(assumption(f"{g.id} dense BF16 peak", f"{g.bf16_dense_tflops:g} TFLOPS", g))
        out.append(option)
    out.sort(key=lambda o: (not o.fits, o.cost_usd is None, o.cost_usd or 0, o.hours or 0, o.gpu))
    return out[:MAX_GPU_OPTIONS]


# --------------------------------------------------------------------------------------------------
# Inference, fixed fees, break-even
# --------------------------------------------------------------------------------------------------


def _inference_row(provider: str, model: str, params_b: float, tier: str | None) -> knowledge.InferencePrice | None:
    rows = [r for r in knowledge.pricing().inference if r.provider == provider]
    if not rows:
        return None
    tiers = [tier] if tier else ["standard", "serverless"]
    for t in tiers:
        in_tier = [r for r in rows if r.tier == t]
        match = pm.match_model_id([r.model for r in in_tier], model)
        if match:
            return next(r for r in in_tier if r.model == match)
        classes = [r for r in in_tier if pm.fits_size_class(r.model, params_b)]
        if classes and pm.size_class_bounds(model) is not None or classes and model == "open-weight-any":
            return classes[0]
    return None


def _fixed_fees(provider: str, req: CostRequest, assumptions: list[Assumption]) -> tuple[float, list[str]]:
    price = knowledge.pricing()
    hours_row = knowledge.training().constant("hours_per_billing_month")
    hours = hours_row.value
    units = req.hosting_units or 1
    rows: list[knowledge.HostingPrice] = []
    if req.hosting:
        host_provider, _, deployment = req.hosting.partition("/")
        known = price.hosting_for(host_provider)
        rows = [r for r in known if r.deployment == deployment]
        if not rows:
            raise ToolError(
                "unknown_hosting",
                f"hosting={req.hosting!r}: no such provider/deployment in pricing.yaml",
                "known: " + ", ".join(f"{r.provider}/{r.deployment}" for r in price.hosting),
            )
    elif "hourly_hosting" in knowledge.providers().provider(provider).hosting:
        rows = [r for r in price.hosting_for(provider) if r.deployment == "standard"][:1]
    total = 0.0
    items: list[str] = []
    for r in rows:
        if r.price_usd is None:
            items.append(f"{r.provider}/{r.deployment}: hosting rate unknown in our data ({r.note or r.source})")
            continue
        per_month = {
            "per_hour": r.price_usd * hours,
            "per_minute": r.price_usd * pm.MINUTES_IN_HOUR * hours,
            "per_model_unit_hour": r.price_usd * units * hours,
            "per_model_unit_minute": r.price_usd * pm.MINUTES_IN_HOUR * units * hours,
        }[r.unit]
        total += per_month
        items.append(
            f"{r.provider}/{r.deployment}: {money(r.price_usd)} {r.unit} x {hours:g} h = {money(per_month)}/month"
        )
        assumptions.append(assumption(f"hosting {r.provider}/{r.deployment}", f"{r.price_usd:g} USD {r.unit}", r))
        assumptions.append(assumption("hours per month", f"{hours:g}", hours_row))
    host_provider = req.hosting.partition("/")[0] if req.hosting else provider
    for s in price.storage_for(host_provider):
        if s.price_usd:
            total += s.price_usd * (units if s.unit == "per_model_unit_month" else 1)
            items.append(f"{s.provider} storage: {money(s.price_usd)} {s.unit}")
            assumptions.append(assumption(f"storage {s.provider}", f"{s.price_usd:g} USD {s.unit}", s))
    return total, items


def inference_cost(
    provider: str,
    model: str,
    params_b: float,
    base_prompt: int | None,
    ft_prompt: int | None,
    out_tokens: int | None,
    req: CostRequest,
    assumptions: list[Assumption],
    notes: list[str],
) -> InferenceCost | None:
    if base_prompt is None or ft_prompt is None or out_tokens is None:
        return None
    if provider in ("self-hosted", "rented-gpu"):
        return None
    ft_row = _inference_row(provider, req.inference_model or model, params_b, req.tier)
    if ft_row is None or ft_row.ft_input is None or ft_row.ft_output is None:
        notes.append(f"{provider} / {model}: no fine-tuned inference price in our data; give inference_model")
        return None
    base_row = ft_row
    if req.base_model:
        base_provider = req.base_provider or provider
        base_row = _inference_row(base_provider, req.base_model, params_b, None)  # type: ignore[assignment]
        if base_row is None:
            raise ToolError(
                "unknown_price",
                f"no inference price for base_model {req.base_model!r} at {base_provider}",
                "priced: " + ", ".join(r.model for r in knowledge.pricing().inference if r.provider == base_provider),
            )
    if base_row.base_input is None or base_row.base_output is None:
        notes.append(f"{base_row.provider} / {base_row.model}: base-model prices unknown in our data")
        return None
    base_req = (base_prompt * base_row.base_input + out_tokens * base_row.base_output) / pm.PER_MILLION
    ft_req = (ft_prompt * ft_row.ft_input + out_tokens * ft_row.ft_output) / pm.PER_MILLION
    assumptions.append(
        assumption(
            f"base inference {base_row.provider} / {base_row.model}",
            f"in {base_row.base_input:g}, out {base_row.base_output:g} USD per 1M",
            base_row,
        )
    )
    assumptions.append(
        assumption(
            f"fine-tuned inference {ft_row.provider} / {ft_row.model} ({ft_row.tier})",
            f"in {ft_row.ft_input:g}, out {ft_row.ft_output:g} USD per 1M",
            ft_row,
        )
    )
    fixed, items = _fixed_fees(provider, req, assumptions)
    volume = req.monthly_requests
    return InferenceCost(
        base_model=f"{base_row.provider} / {base_row.model}",
        ft_model=f"{ft_row.provider} / {ft_row.model}",
        tier=ft_row.tier,
        base_prompt_tokens=base_prompt,
        ft_prompt_tokens=ft_prompt,
        output_tokens=out_tokens,
        base_usd_per_request=round_usd(base_req),
        ft_usd_per_request=round_usd(ft_req),
        saving_usd_per_request=round_usd(base_req - ft_req),
        monthly_requests=volume,
        base_usd_per_month=round_usd(base_req * volume) if volume is not None else None,
        ft_usd_per_month=round_usd(ft_req * volume) if volume is not None else None,
        fixed_usd_per_month=round_usd(fixed),
        fixed_items=items,
    )


def break_even(training: float | None, inf: InferenceCost | None) -> BreakEven | None:
    if inf is None:
        return None
    saving = inf.saving_usd_per_request
    if saving <= 0:
        return BreakEven(
            never=True,
            statement=(
                f"Never: the fine-tuned request costs {money(inf.ft_usd_per_request)} vs "
                f"{money(inf.base_usd_per_request)} "
                f"for the base request ({money(-saving)} more), so fine-tuning never pays back on cost alone."
            ),
        )
    requests = training / saving if training is not None else None
    cover = inf.fixed_usd_per_month / saving if inf.fixed_usd_per_month else None
    months = None
    parts = [f"saves {money(saving)} per request"]
    if requests is not None and training == 0:
        parts.append("training is free, so it pays back from the first request")
    elif requests is not None:
        parts.append(f"training {money(training or 0)} is recovered after {requests:,.0f} requests")
    if cover is not None:
        parts.append(
            f"fixed fees of {money(inf.fixed_usd_per_month)}/month need {cover:,.0f} requests/month to break even"
        )
    never = False
    if inf.monthly_requests:
        net = saving * inf.monthly_requests - inf.fixed_usd_per_month
        if net <= 0:
            never = True
            parts.append(f"at {inf.monthly_requests:,} requests/month the fixed fees eat the saving: never pays back")
        elif training is not None:
            months = training / net
            parts.append(f"at {inf.monthly_requests:,} requests/month that is {months:.2f} months")
    return BreakEven(
        never=never,
        statement="; ".join(parts) + ".",
        requests=round(requests, 1) if requests is not None else None,
        months=round(months, 4) if months is not None else None,
        monthly_requests_to_cover_fixed=round(cover, 1) if cover is not None else None,
    )


def sensitivity(
    option: CostOption,
    tokens: int | None,
    examples: int | None,
    val_tokens: int | None,
    params: float,
    base_prompt: int | None,
    ft_prompt: int | None,
    out_tokens: int | None,
    req: CostRequest,
) -> list[Sensitivity]:
    """The first option recomputed with one input changed at a time."""
    rows: list[Sensitivity] = []
    scratch: list[Assumption] = []

    def one(variable: str, value: str, **changes: Any) -> None:
        r = req.model_copy(update={k: v for k, v in changes.items() if k in type(req).model_fields})
        train = training_cost(option.provider, option.model, option.method, tokens, examples, val_tokens, r, scratch)
        if option.provider in ("self-hosted", "rented-gpu") and tokens is not None:
            gpus = [
                g
                for g in gpu_options(option.method, params, tokens * train.epochs, r, scratch)
                if g.fits and g.cost_usd
            ]
            train.cost_usd = min((g.cost_usd or 0 for g in gpus), default=None)
        inf = inference_cost(
            option.provider,
            option.model,
            params,
            changes.get("base", base_prompt),
            changes.get("ft", ft_prompt),
            out_tokens,
            r,
            scratch,
            [],
        )
        be = break_even(train.cost_usd, inf)
        rows.append(
            Sensitivity(
                variable=variable,
                value=value,
                training_cost_usd=train.cost_usd,
                break_even_requests=be.requests if be else None,
                break_even_months=be.months if be else None,
            )
        )

    for e in (1, 2, 3, 5):
        one("epochs", str(e), epochs=float(e))
    if req.monthly_requests:
        for f in (0.5, 2, 10):
            one(
                "monthly_requests",
                f"{math.ceil(req.monthly_requests * f):,}",
                monthly_requests=math.ceil(req.monthly_requests * f),
            )
    if base_prompt is not None and ft_prompt is not None:
        for f in (0.5, 2):
            one("base_prompt_tokens", str(round(base_prompt * f)), base=round(base_prompt * f))
        one("ft_prompt_tokens", str(base_prompt), ft=base_prompt)
    return rows
