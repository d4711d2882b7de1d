"""Whether a fine-tune pays back: break-even requests and time, capped by the days its serving has left, and
how the numbers move when one input changes (sensitivity)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from tools.cost.models import Assumption, BreakEven, CostOption, CostRequest, InferenceCost, Sensitivity
from tools.cost.money import DAYS_IN_MONTH, duration_text, money
from tools.cost.parts import gpu_options, inference_cost, training_cost


def _never(inf: InferenceCost) -> BreakEven:
    saving = inf.saving_usd_per_request
    return BreakEven(
        never=True,
        statement=(
            f"Never: the fine-tuned request costs {money(inf.ft_usd_per_request)} vs "
            f"{money(inf.base_usd_per_request)} "
            f"for the base request ({money(-saving)} more), so fine-tuning never pays back on cost alone."
        ),
    )


def _recovery(training: float | None, inf: InferenceCost, requests: float | None) -> str:
    if training is None:
        return "the training cost is not confirmed, so the requests to recover it are not computed"
    if training == 0 and not inf.fixed_usd_per_month and not inf.fixed_unknown:
        return "training is free, so it pays back from the first request"
    if training == 0:
        return "training is free"
    return f"training {money(training)} is recovered after {requests:,.0f} requests"


def break_even(
    training: float | None,
    inf: InferenceCost | None,
    serving_until: date | None = None,
    today: date | None = None,
) -> BreakEven | None:
    """Requests and time to recover the training cost; "never" when the saving is not positive, when fixed fees eat
    it, or when the payback takes longer than the days the fine-tune can still be served."""
    if inf is None:
        return None
    saving = inf.saving_usd_per_request
    if saving <= 0:
        return _never(inf)
    requests = training / saving if training is not None else None
    cover = inf.fixed_usd_per_month / saving if inf.fixed_usd_per_month else None
    parts = [f"saves {money(saving)} per request", _recovery(training, inf, requests)]
    if cover is not None:
        parts.append(
            f"fixed fees of {money(inf.fixed_usd_per_month)}/month need {cover:,.0f} requests/month to break even"
        )
    if inf.fixed_unknown:
        parts.append("a serving fee is unknown or unconfirmed (see the fixed fees), so no payback time is computed")
    never = False
    months = None
    if inf.monthly_requests and not inf.fixed_unknown:
        net = saving * inf.monthly_requests - inf.fixed_usd_per_month
        if net <= 0:
            never = True
            parts.append(f"at {inf.monthly_requests:,} requests/month the fixed fees eat the saving: never pays back")
        elif training is not None:
            months = training / net
            parts.append(f"at {inf.monthly_requests:,} requests/month that takes {duration_text(months)}")
    days_left = (serving_until - today).days if serving_until is not None and today is not None else None
    if days_left is not None and serving_until is not None:
        if days_left <= 0:
            never, months = True, None
            parts.append(f"serving of the fine-tune ended on {serving_until}")
        elif months is not None and months * DAYS_IN_MONTH > days_left:
            never, months = True, None
            parts.append(
                f"but serving ends on {serving_until}, {days_left} days from today: it does not pay back before then"
            )
        else:
            parts.append(f"serving ends on {serving_until}, {days_left} days from today")
    return BreakEven(
        never=never,
        statement="; ".join(parts) + ".",
        requests=round(requests, 1) if requests is not None else None,
        months=round(months, 4) if months is not None else None,
        monthly_requests_to_cover_fixed=round(cover, 1) if cover is not None else None,
        serving_until=serving_until,
        days_left=days_left,
    )


def sensitivity(
    option: CostOption,
    window: tuple[date | None, date],
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
        be = break_even(train.cost_usd, inf, *window)
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
