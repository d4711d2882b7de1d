"""The arithmetic of estimate_cost: training, GPU and inference cost, and the fixed fees of serving.

Rates come only from reference/data through tools.knowledge; each one used is recorded as an
:class:`Assumption` with its source and date. A price past its expiry (or kept only as last known) is
*unconfirmed*: it is said, with its date, and never added into a cost.
"""

from __future__ import annotations

from typing import Any

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.models import Assumption, CostRequest, GpuOption, InferenceCost, TrainingCost
from tools.cost.money import money, round_usd
from tools.plan import plan_math as pm


def assumption(what: str, value: Any, row: Any) -> Assumption:
    when = getattr(row, "source_date", None) or getattr(row, "checked", None) or getattr(row, "as_of", "")
    return Assumption(what=what, value=str(value), source=getattr(row, "source", ""), as_of=str(when))


def rate_text(value: float, unit: str) -> str:
    """ "2 USD per 1M training tokens", never "USD per_1m_tokens"."""
    return f"{value:g} USD {knowledge.UNIT_TEXT.get(unit, unit.replace('_', ' '))}"


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
    state = knowledge.price_state(row, row.price_usd)
    out.unit, out.billing = row.unit, row.billing
    out.price_status = state.status
    out.price_text = state.describe(money, knowledge.UNIT_TEXT[row.unit])
    out.price_usd = state.value if state.status == "confirmed" else None
    assumptions.append(
        assumption(
            f"training rate {provider} / {model} ({method})",
            rate_text(state.value, row.unit) if state.value is not None else out.price_text,
            row,
        )
    )
    if out.price_usd is None:
        out.note = (
            f"no confirmed training price for {provider} / {model} ({method}): {out.price_text}"
            + (f"; {row.note}" if row.note and state.status == "unknown" and row.note not in out.price_text else "")
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
        out.cost_usd = round_usd(billed / pm.PER_MILLION * out.price_usd)
    elif row.unit in ("per_hour", "per_gpu_hour"):
        if req.training_hours is None:
            out.note = f"billed per hour ({row.billing}); give training_hours to price it"
            return out
        out.hours = req.training_hours
        out.cost_usd = round_usd(req.training_hours * out.price_usd)
    if out.cost_usd is not None and row.min_fee_usd and out.cost_usd < row.min_fee_usd:
        out.cost_usd, out.min_fee_applied = row.min_fee_usd, True
    if out.cost_usd is not None and row.max_fee_usd is not None and out.cost_usd > row.max_fee_usd:
        out.cost_usd, out.cap_applied = row.max_fee_usd, True
    return out


def confirmed_offers(gpu_id: str) -> list[tuple[knowledge.GpuOffer, float]]:
    """The offers for one GPU whose price is within its expiry, cheapest first."""
    out = []
    for offer in knowledge.gpus().offers_for(gpu_id):
        state = knowledge.price_state(offer, offer.usd_per_gpu_hour)
        if state.status == "confirmed" and state.value is not None:
            out.append((offer, state.value))
    return sorted(out, key=lambda pair: pair[1])


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
        offers = confirmed_offers(g.id)
        use_hours = measured_hours if measured_hours is not None else hours
        if offers and use_hours is not None:
            best, rate = offers[0]
            option.vendor, option.tier, option.usd_per_gpu_hour = best.vendor, best.tier, rate
            option.cost_usd = round_usd(use_hours * n * rate)
            assumptions.append(assumption(f"{g.id} at {best.vendor} ({best.tier})", f"{rate:g} USD per GPU-hour", best))
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


PER_MONTH_UNITS = {
    "per_hour": False,
    "per_gpu_hour": True,
    "per_minute": False,
    "per_model_unit_hour": True,
    "per_model_unit_minute": True,
}


def _hosting_rows(provider: str, req: CostRequest) -> list[knowledge.HostingPrice]:
    price = knowledge.pricing()
    if req.hosting:
        host_provider, _, deployment = req.hosting.partition("/")
        rows = [r for r in price.hosting_for(host_provider) if r.deployment == deployment]
        if not rows:
            raise ToolError(
                "unknown_hosting",
                f"hosting={req.hosting!r}: no such provider/deployment in pricing.yaml",
                "known: " + ", ".join(f"{r.provider}/{r.deployment}" for r in price.hosting),
            )
        return rows
    if "hourly_hosting" in knowledge.providers().provider(provider).hosting:
        return [r for r in price.hosting_for(provider) if r.deployment == "standard"][:1]
    return []


def fixed_fees(provider: str, req: CostRequest, assumptions: list[Assumption]) -> tuple[float, list[str], bool]:
    """(confirmed fixed fees per month, one line per fee, whether some fee is unknown or unconfirmed)."""
    hours_row = knowledge.training().constant("hours_per_billing_month")
    hours = hours_row.value
    units = req.hosting_units or 1
    total = 0.0
    items: list[str] = []
    unknown = False
    for r in _hosting_rows(provider, req):
        unit = knowledge.UNIT_TEXT.get(r.unit, r.unit)
        state = knowledge.price_state(r, r.price_usd)
        if state.value is None:
            unknown = True
            items.append(f"{r.provider}/{r.deployment}: {state.describe(money, unit)}; not counted")
            continue
        per_hour = state.value * (pm.MINUTES_IN_HOUR if r.unit.endswith("minute") else 1)
        per_month = per_hour * hours * (units if PER_MONTH_UNITS[r.unit] else 1)
        total += per_month
        items.append(
            f"{r.provider}/{r.deployment}: {money(state.value)} {unit} x {hours:g} h = {money(per_month)}/month"
        )
        assumptions.append(assumption(f"hosting {r.provider}/{r.deployment}", rate_text(state.value, r.unit), r))
        assumptions.append(assumption("hours per month", f"{hours:g}", hours_row))
    host_provider = req.hosting.partition("/")[0] if req.hosting else provider
    for s in knowledge.pricing().storage_for(host_provider):
        state = knowledge.price_state(s, s.price_usd)
        if state.value:
            total += state.value * (units if s.unit == "per_model_unit_month" else 1)
            items.append(f"{s.provider} storage: {money(state.value)} {knowledge.UNIT_TEXT[s.unit]}")
            assumptions.append(assumption(f"storage {s.provider}", rate_text(state.value, s.unit), s))
        elif state.status == "unconfirmed":
            unknown = True
            items.append(f"{s.provider} storage: {state.describe(money, knowledge.UNIT_TEXT[s.unit])}; not counted")
    return total, items, unknown


def _confirmed(row: knowledge.InferencePrice, fields: tuple[str, ...]) -> str | None:
    """Why the row's prices cannot be used (missing or past their expiry), or None."""
    values = [getattr(row, f) for f in fields]
    if any(v is None for v in values):
        return "not in our data"
    state = knowledge.price_state(row, values[0])
    return None if state.status == "confirmed" else state.reason


def _ft_row(
    provider: str, model: str, params_b: float, req: CostRequest, notes: list[str]
) -> knowledge.InferencePrice | None:
    ft_row = _inference_row(provider, req.inference_model or model, params_b, req.tier)
    why = _confirmed(ft_row, ("ft_input", "ft_output")) if ft_row is not None else "not in our data"
    if why is None and ft_row is not None:
        if isinstance(ft_row.serving, knowledge.ServerlessFor):
            notes.append(
                f"{provider} / {model}: the fine-tuned per-token price holds only for adapters on "
                f"{', '.join(ft_row.serving.serverless_for)}; a fine-tune of another base needs a dedicated endpoint"
            )
        return ft_row
    p = knowledge.providers().provider(provider)
    m = next((x for x in p.models if x.id == model), None)
    serving = p.serving_of(m) if m is not None else p.serving
    if ft_row is not None and ft_row.serving is not None:
        serving = ft_row.serving
    if serving == "dedicated" or isinstance(serving, knowledge.ServerlessFor):
        rates = "; ".join(
            f"{h.deployment}: {knowledge.price_state(h, h.price_usd).describe(money, knowledge.UNIT_TEXT[h.unit])}"
            for h in knowledge.pricing().hosting_for(provider)
        )
        notes.append(
            f"{provider} / {model}: the fine-tune runs on a dedicated deployment billed while it is up"
            + (
                f" (serverless only for {', '.join(serving.serverless_for)})"
                if isinstance(serving, knowledge.ServerlessFor)
                else ""
            )
            + ", so its cost per request depends on the GPU rate and your traffic, not on tokens"
            + (f"; rates: {rates}" if rates else "")
            + "; break-even not computed"
        )
    else:
        notes.append(f"{provider} / {model}: fine-tuned inference price {why}; give inference_model")
    return None


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
    ft_row = _ft_row(provider, model, params_b, req, notes)
    if ft_row is None:
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
    why = _confirmed(base_row, ("base_input", "base_output"))
    if why is not None:
        notes.append(f"{base_row.provider} / {base_row.model}: base-model price {why}")
        return None
    assert base_row.base_input is not None and base_row.base_output is not None
    assert ft_row.ft_input is not None and ft_row.ft_output is not None
    base_req = (base_prompt * base_row.base_input + out_tokens * base_row.base_output) / pm.PER_MILLION
    ft_req = (ft_prompt * ft_row.ft_input + out_tokens * ft_row.ft_output) / pm.PER_MILLION
    assumptions.append(
        assumption(
            f"base inference {base_row.provider} / {base_row.model}",
            f"in {base_row.base_input:g}, out {base_row.base_output:g} USD per 1M tokens",
            base_row,
        )
    )
    assumptions.append(
        assumption(
            f"fine-tuned inference {ft_row.provider} / {ft_row.model} ({ft_row.tier})",
            f"in {ft_row.ft_input:g}, out {ft_row.ft_output:g} USD per 1M tokens",
            ft_row,
        )
    )
    fixed, items, fixed_unknown = fixed_fees(provider, req, assumptions)
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
        fixed_unknown=fixed_unknown,
    )
