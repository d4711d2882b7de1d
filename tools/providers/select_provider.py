"""select_provider: constraints -> a ranked list of concrete fine-tuning options, with reasons.

Options are every (provider, model) of ``reference/data/providers.yaml`` that trains, with the best
matching method. Hard constraints exclude an option and say why (with the date when a service or
model ends); soft ones add a concern. The ranking is a deterministic score whose parts are listed
with each option (``score_parts``); ties break on provider and model id.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.cost.parts import training_cost
from tools.decide.checklist import Privacy
from tools.plan import plan_math as pm

METHOD_PREFERENCE = (
    "sft_lora",
    "sft",
    "sft_qlora",
    "sft_full",
    "dpo_lora",
    "dpo",
    "dpo_full",
    "vision_sft",
    "distillation",
    "grpo_lora",
    "grpo_full",
    "rft",
)
OPEN_KINDS = ("open_weight_api", "self_hosted", "rented_gpu")
MAX_OPTIONS = 12
RANKING = (
    "score = +3 data stays on your machines (when privacy matters) | +2 open weights you can keep (portable) | "
    "+2 free or +1 low training cost class, -1 high, -1 unpriced | +1 no announced end date, -3 closes within 90 days "
    "| +1 zero data retention available (when retention matters) | -1 per concern; ties: provider id, model id"
)


class ProviderRequest(BaseModel):
    """Constraints; every one is optional. Hard ones exclude options, soft ones add concerns."""

    data_may_leave: bool | None = Field(
        None, description="false: the data may not leave our machines (self-hosted only)"
    )
    privacy: Privacy | None = Field(
        None,
        description="the checklist's privacy answer; must_stay_on_premises implies data_may_leave=false, health "
        "implies a HIPAA BAA",
    )
    region: str | None = Field(None, description="required processing region, e.g. eu, us, us-east-1")
    zero_retention: bool | None = Field(None, description="the provider must offer zero data retention")
    hipaa_baa: bool | None = Field(None, description="a HIPAA BAA must cover the fine-tuning path")
    training_budget_usd: float | None = Field(
        None, ge=0, description="exclude options whose training costs more (needs training_tokens)"
    )
    training_tokens: int | None = Field(None, ge=0, description="tokens per epoch, to price options against the budget")
    model_family: str | None = Field(None, description="open-weight, gpt, gpt-4.1, nova, gemini, qwen3, any")
    model_size_b: float | None = Field(None, description="open-weight model size in billions, to pick the size class")
    method: str | None = Field(None, description="sft, dpo, rft, lora, full... (default: supervised fine-tuning)")
    needs_tool_calling: bool | None = Field(None, description="the fine-tuned model must call tools")
    needs_vision: bool | None = Field(None, description="the fine-tuned model must read images")
    deadline: date | None = Field(None, description="the model must be trained and in production by this date")
    examples: int | None = Field(None, ge=0, description="how many training examples we have")


class Option(BaseModel):
    rank: int
    provider: str
    provider_name: str
    model: str
    method: str
    kind: str
    score: int
    score_parts: list[str]
    fits: list[str] = Field(description="why it fits")
    concerns: list[str] = Field(description="why not, or what to check")
    cost_class: Literal["free", "low", "medium", "high", "gpu_hours", "unpriced"]
    training_cost_usd: float | None = Field(None, description="with training_tokens: the estimated training cost")
    available_until: date | None = Field(
        None, description="last day new training jobs can start (null: no announced end)"
    )
    serving_until: date | None = None


class Excluded(BaseModel):
    provider: str
    model: str | None
    reason: str
    end_date: date | None = Field(
        None, description="the day the service or model ended or closes, when that is the reason"
    )


class ProviderRanking(BaseModel):
    options: list[Option]
    excluded: list[Excluded]
    ranking: str = Field(description="how the score is made")
    constraints: list[str] = Field(description="the constraints as understood")
    findings: list[str] = Field(description="contradictions or doubtful constraints")
    warnings: list[str]


def _constraints(req: ProviderRequest, today: date) -> tuple[bool | None, bool | None, list[str], list[str]]:
    stays = req.data_may_leave
    hipaa = req.hipaa_baa
    said: list[str] = []
    findings: list[str] = []
    if req.privacy == "must_stay_on_premises":
        if stays is True:
            raise ToolError(
                "contradicting_constraints",
                "privacy=must_stay_on_premises but data_may_leave=true",
                "the data either stays on your machines or it does not; fix one of them",
            )
        stays = False
    if req.privacy == "health" and hipaa is None:
        hipaa = True
        said.append("privacy=health: a HIPAA BAA is required (say hipaa_baa=false if the data is not PHI)")
    if req.privacy == "health" and hipaa is False:
        findings.append("privacy=health with hipaa_baa=false: make sure the data is not protected health information")
    if req.deadline is not None and req.deadline < today:
        raise ToolError(
            "bad_deadline",
            f"deadline {req.deadline} is in the past (today is {today})",
            "give the date the model must be in production",
        )
    if req.model_size_b is not None and not 0 < req.model_size_b <= 10_000:
        raise ToolError(
            "bad_model_size",
            f"model_size_b={req.model_size_b} is not a plausible size in billions",
            "e.g. 8 for an 8B model",
        )
    if req.training_budget_usd is not None and req.training_tokens is None:
        findings.append(
            "training_budget_usd without training_tokens: options are not priced against the budget "
            "(cost class only); give training_tokens or run estimate_cost"
        )
    if stays is False:
        said.append("data may not leave your machines: only self-hosted training")
        if req.region:
            findings.append(f"region={req.region!r} only matters for where your own machines are")
    for name in (
        "region",
        "zero_retention",
        "model_family",
        "model_size_b",
        "method",
        "needs_tool_calling",
        "needs_vision",
        "deadline",
        "examples",
    ):
        value = getattr(req, name)
        if value is not None:
            said.append(f"{name}={value}")
    if hipaa:
        said.append("HIPAA BAA required")
    return stays, hipaa, said, findings


def _region_ok(provider: knowledge.Provider, region: str) -> bool | None:
    want = region.strip().lower()
    regions = [r.lower() for r in provider.regions]
    if not regions or "vendor-dependent" in regions:
        return None
    if "anywhere" in regions:
        return True
    return any(
        r == want or r.startswith(want + "-") or r.endswith("_" + want) or want.startswith(r + "-") for r in regions
    )


def _method(model: knowledge.ProviderModel, wanted: str | None) -> str | None:
    methods = list(model.methods)
    if not methods:
        return None
    if wanted:
        w = wanted.lower()
        alias = {
            "lora": "sft_lora",
            "qlora": "sft_qlora",
            "full": "sft_full",
            "supervised": "sft",
            "sft": "sft",
            "dpo": "dpo",
            "rft": "rft",
            "grpo": "grpo_lora",
        }.get(w, w)
        family = alias.split("_")[0]
        exact = [m for m in methods if m == alias]
        close = [m for m in METHOD_PREFERENCE if m in methods and m.split("_")[0] == family]
        if alias in ("sft_lora", "sft_qlora", "sft_full") and not exact:
            close = [m for m in close if m == "sft"] if "sft" in methods and alias == "sft_lora" else []
        return (exact or close or [None])[0]
    return next((m for m in METHOD_PREFERENCE if m in methods and m.startswith(("sft", "vision"))), None)


def _cost_class(provider: str, model: str, method: str) -> tuple[str, knowledge.TrainingPrice | None]:
    rows = [
        r for r in knowledge.pricing().training if r.provider == provider and r.model == model and r.method == method
    ]
    if provider in ("self-hosted", "rented-gpu"):
        return "gpu_hours", None
    if not rows or rows[0].price_usd is None:
        return "unpriced", rows[0] if rows else None
    row = rows[0]
    if row.unit == "free" or row.price_usd == 0:
        return "free", row
    if row.unit != "per_1m_tokens":
        return "high", row
    dec = knowledge.decision()
    if row.price_usd <= dec.threshold("cost_class_low_per_1m").value:
        return "low", row
    if row.price_usd >= dec.threshold("cost_class_high_per_1m").value:
        return "high", row
    return "medium", row


@tool(effect="read", stage="provider")
def select_provider(req: ProviderRequest) -> ProviderRanking:
    """Ranks concrete places to fine-tune (provider + model + method: managed APIs, cloud platforms, open-weight APIs,
    your own GPUs, rented GPUs) against constraints: data may not leave your machines, region, zero retention, HIPAA
    BAA, budget, model family or size, tool calling or vision, deadline, number of examples. Each option says why it
    fits, why not, its cost class and its availability window; options that ended or close before the deadline are
    excluded with the date.

    Deterministic: the score and its parts are returned with each option. It reads providers.yaml and
    pricing.yaml only and never contacts a provider; re-check a chosen option's live status before
    uploading data. Run estimate_cost next for the money.
    """
    today = knowledge.today()
    stays, hipaa, said, findings = _constraints(req, today)
    privacy_matters = stays is False or req.privacy in ("eu_personal_data", "health") or bool(req.zero_retention)
    horizon = knowledge.DEFAULT_HORIZON_DAYS
    options: list[Option] = []
    excluded: list[Excluded] = []
    for p in knowledge.providers().providers:
        if p.kind == "eval_service":
            continue
        if p.status in ("ended", "deprecated") or (p.available_until and p.available_until <= today):
            excluded.append(
                Excluded(
                    provider=p.id,
                    model=None,
                    end_date=p.available_until,
                    reason=f"{p.name}: {'ended on ' + str(p.available_until) if p.available_until else p.status}"
                    + (f" - {p.until_note}" if p.until_note else ""),
                )
            )
            continue
        if stays is False and p.data_leaves_your_machines:
            excluded.append(Excluded(provider=p.id, model=None, reason="the data would leave your machines"))
            continue
        if hipaa and p.hipaa_baa in ("no", "limited"):
            excluded.append(
                Excluded(
                    provider=p.id, model=None, reason=f"no HIPAA BAA for fine-tuning ({p.hipaa_note or p.hipaa_baa})"
                )
            )
            continue
        if req.zero_retention and p.zdr == "no":
            excluded.append(
                Excluded(provider=p.id, model=None, reason=f"no zero data retention ({p.zdr_note or 'zdr: no'})")
            )
            continue
        region_ok = _region_ok(p, req.region) if req.region and stays is not False else True
        if region_ok is False:
            excluded.append(
                Excluded(
                    provider=p.id,
                    model=None,
                    reason=f"no processing in region {req.region!r} (regions: {', '.join(p.regions)})",
                )
            )
            continue
        for m in p.models:
            reason, when = _exclusion(p, m, req, today)
            if reason is None and not pm.family_matches(p, m, req.model_family):
                reason = f"family {m.family} is not {req.model_family!r}"
            method = _method(m, req.method) if reason is None else None
            if reason is None and method is None:
                reason = (
                    "serving only: train elsewhere, then import"
                    if not m.methods
                    else f"no {req.method or 'supervised'} method (has {', '.join(m.methods)})"
                )
            if reason is not None:
                excluded.append(Excluded(provider=p.id, model=m.id, reason=reason, end_date=when))
                continue
            assert method is not None
            options.append(_option(p, m, method, req, stays, hipaa, region_ok, privacy_matters, today, horizon))
    if req.training_budget_usd is not None and req.training_tokens is not None:
        kept = []
        for o in options:
            if o.training_cost_usd is not None and o.training_cost_usd > req.training_budget_usd:
                excluded.append(
                    Excluded(
                        provider=o.provider,
                        model=o.model,
                        reason=f"training about {o.training_cost_usd:,.2f} USD is over the budget",
                    )
                )
            else:
                kept.append(o)
        options = kept
    options.sort(key=lambda o: (-o.score, o.provider, o.model))
    for i, o in enumerate(options, 1):
        o.rank = i
    warnings = sorted(
        {w.message for o in options[:5] for w in knowledge.offering_warnings(o.provider, o.model) if w.kind != "stale"}
    )
    if not options:
        findings.append("no option meets every constraint; relax one (see excluded for the reasons)")
    return ProviderRanking(
        options=options[:MAX_OPTIONS],
        excluded=excluded[:40],
        ranking=RANKING,
        constraints=said,
        findings=findings,
        warnings=warnings,
    )


def _exclusion(
    p: knowledge.Provider, m: knowledge.ProviderModel, req: ProviderRequest, today: date
) -> tuple[str | None, date | None]:
    until = p.model_until(m)
    if until is not None and until <= today:
        return f"ended on {until}" + (f" - {m.note}" if m.note else ""), until
    if req.deadline and until is not None and until < req.deadline:
        return f"closes to new jobs on {until}, before your deadline {req.deadline}", until
    if req.deadline and m.serving_until is not None and m.serving_until < req.deadline:
        return f"inference stops on {m.serving_until}, before your deadline {req.deadline}", m.serving_until
    if req.model_size_b is not None and pm.fits_size_class(m.id, req.model_size_b) is False:
        return f"size class {m.id} does not hold a {req.model_size_b:g}B model", None
    if (
        req.model_size_b is not None
        and m.params_b is not None
        and pm.size_class_bounds(m.id) is None
        and abs(m.params_b - req.model_size_b) > req.model_size_b * 0.5
    ):
        return f"{m.id} is {m.params_b:g}B, not about {req.model_size_b:g}B", None
    if req.needs_tool_calling and m.tool_calling is False:
        return "the fine-tuned model does not support tool calling", None
    if req.needs_vision and "image" not in m.modalities and p.kind not in ("self_hosted", "rented_gpu"):
        return "no image input for fine-tuning", None
    if req.examples is not None and m.min_examples is not None and req.examples < m.min_examples:
        return f"needs at least {m.min_examples} examples, you have {req.examples}", None
    if req.examples is not None and m.max_examples is not None and req.examples > m.max_examples:
        return f"accepts at most {m.max_examples:,} examples, you have {req.examples:,}", None
    return None, None


def _option(
    p: knowledge.Provider,
    m: knowledge.ProviderModel,
    method: str,
    req: ProviderRequest,
    stays: bool | None,
    hipaa: bool | None,
    region_ok: bool | None,
    privacy_matters: bool,
    today: date,
    horizon: int,
) -> Option:
    fits: list[str] = []
    concerns: list[str] = []
    parts: list[str] = []
    score = 0
    if not p.data_leaves_your_machines:
        fits.append("data never leaves your machines")
        if privacy_matters:
            score += 3
            parts.append("+3 data stays")
    elif req.privacy in ("eu_personal_data", "health"):
        concerns.append(
            "data leaves your machines: needs a data processing agreement and a lawful basis; scan PII first"
        )
    if p.kind in OPEN_KINDS:
        score += 2
        parts.append("+2 portable open weights")
        fits.append("you keep the weights (a LoRA adapter outlives any provider)")
    cost_class, row = _cost_class(p.id, m.id, method)
    bonus = {"free": 2, "low": 1, "high": -1, "unpriced": -1}.get(cost_class, 0)
    if bonus:
        score += bonus
        parts.append(f"{bonus:+d} cost class {cost_class}")
    if cost_class == "unpriced":
        concerns.append("no trusted training price in our data" + (f" ({row.note})" if row and row.note else ""))
    until = p.model_until(m)
    if until is None:
        score += 1
        parts.append("+1 no announced end")
    else:
        days = (until - today).days
        if days <= horizon:
            score -= 3
            parts.append(f"-3 closes in {days} days")
        concerns.append(f"no new training jobs from {until}" + (f" ({p.until_note})" if p.until_note else ""))
    if m.serving_until is not None:
        concerns.append(f"inference on the fine-tune stops on {m.serving_until}")
    for ms in p.milestones:
        if ms.date <= today:
            concerns.append(f"since {ms.date}: {ms.event}")
    if m.available_from and m.available_from > today:
        concerns.append(f"available only from {m.available_from}")
    if req.zero_retention or req.privacy in ("eu_personal_data", "health"):
        if p.zdr == "yes":
            score += 1
            parts.append("+1 zero retention")
            fits.append("zero data retention" + (f" ({p.zdr_note})" if p.zdr_note else ""))
        elif p.zdr in ("on_request", "unclear", "unknown"):
            concerns.append(f"zero data retention: {p.zdr}" + (f" ({p.zdr_note})" if p.zdr_note else ""))
    if hipaa:
        if p.hipaa_baa in ("yes", "not_applicable"):
            fits.append("HIPAA: " + (p.hipaa_note or p.hipaa_baa))
        else:
            concerns.append("HIPAA BAA: " + (p.hipaa_note or p.hipaa_baa))
    if req.region and stays is not False:
        if region_ok is None:
            concerns.append(f"region {req.region!r}: " + (p.residency or "not documented; ask the provider"))
        else:
            fits.append(f"processes in {req.region}")
    if req.needs_tool_calling and m.tool_calling is None:
        concerns.append("tool calling in the fine-tuned model is not documented in our sources")
    if req.examples is not None and m.recommended_examples and req.examples < m.recommended_examples:
        concerns.append(f"{req.examples} examples is below the {m.recommended_examples} the provider recommends")
    if p.trains_on_customer_data in ("opt_in", "no"):
        fits.append(
            "does not train on your data" + (" unless you opt in" if p.trains_on_customer_data == "opt_in" else "")
        )
    if m.note:
        concerns.append(m.note)
    score -= len(concerns)
    if concerns:
        parts.append(f"-{len(concerns)} concerns")
    cost = None
    if req.training_tokens is not None and p.kind not in ("self_hosted", "rented_gpu"):
        from tools.cost.models import CostRequest

        cost = training_cost(
            p.id,
            m.id,
            method,
            req.training_tokens,
            req.examples,
            None,
            CostRequest(training_tokens=req.training_tokens),
            [],
        ).cost_usd
    return Option(
        rank=0,
        provider=p.id,
        provider_name=p.name,
        model=m.id,
        method=method,
        kind=p.kind,
        score=score,
        score_parts=parts,
        fits=fits,
        concerns=concerns[:8],
        cost_class=cost_class,  # type: ignore[arg-type]
        training_cost_usd=cost,
        available_until=until,
        serving_until=m.serving_until,
    )
