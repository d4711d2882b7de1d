"""How select_provider reads one (provider, model): which method, why it is excluded, and its score.

Bonuses are earned only by rows a provider's own page supports: a row with ``basis: secondary`` (a third-party
compilation) adds no bonus, an ``unknown`` end date is not "no announced end", and a price past its expiry is
"unconfirmed", never a cost class.
"""

from __future__ import annotations

from datetime import date

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.models import CostRequest
from tools.cost.parts import money, training_cost
from tools.plan import plan_math as pm
from tools.providers.models import Option, ProviderRequest

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
METHOD_ALIAS = {
    "lora": "sft_lora",
    "qlora": "sft_qlora",
    "full": "sft_full",
    "supervised": "sft",
    "sft": "sft",
    "dpo": "dpo",
    "rft": "rft",
    "grpo": "grpo_lora",
}
RANKING = (
    "score = +3 data stays on your machines (when privacy matters) | +2 open weights you can keep (portable) | "
    "+2 free or +1 low training cost class, -1 high, -1 unpriced or unconfirmed | +1 no announced end, "
    "-3 closes within 90 days | +1 zero data retention available (when retention matters) | -1 per concern; "
    "rows backed only by a secondary source earn no bonus; an unknown end date earns none; "
    "ties: provider id, model id"
)


def constraints(req: ProviderRequest, today: date) -> tuple[bool | None, bool | None, list[str], list[str]]:
    """(data may leave, HIPAA needed, the constraints as understood, findings); contradictions raise."""
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


def region_ok(provider: knowledge.Provider, region: str) -> bool | None:
    want = region.strip().lower()
    regions = [r.lower() for r in provider.regions]
    if not regions or "vendor-dependent" in regions:
        return None
    if "anywhere" in regions:
        return True
    return any(
        r == want or r.startswith(want + "-") or r.endswith("_" + want) or want.startswith(r + "-") for r in regions
    )


def choose_method(methods: list[str], wanted: str | None) -> str | None:
    """The model's method that answers ``wanted`` (sft, lora, dpo...), or its preferred supervised one."""
    if not methods:
        return None
    if wanted:
        alias = METHOD_ALIAS.get(wanted.lower(), wanted.lower())
        family = alias.split("_")[0]
        exact = [m for m in methods if m == alias]
        close = [m for m in METHOD_PREFERENCE if m in methods and m.split("_")[0] == family]
        if alias in ("sft_lora", "sft_qlora", "sft_full") and not exact:
            close = [m for m in close if m == "sft"] if "sft" in methods and alias == "sft_lora" else []
        return (exact or close or [None])[0]
    return next((m for m in METHOD_PREFERENCE if m in methods and m.startswith(("sft", "vision"))), None)


def training_price(
    provider: str, model: str, method: str, today: date
) -> tuple[str, str, knowledge.TrainingPrice | None]:
    """(cost class, the price in words, the row) for one path; expired prices are "unconfirmed"."""
    if provider in ("self-hosted", "rented-gpu"):
        return "gpu_hours", "GPU hours x the rental or your own cost (see estimate_cost)", None
    rows = [
        r for r in knowledge.pricing().training if r.provider == provider and r.model == model and r.method == method
    ]
    if not rows:
        return "unpriced", "no training price in our data", None
    row = rows[0]
    unit = knowledge.UNIT_TEXT[row.unit]
    if row.unit == "free" and row.price_usd == 0:
        return "free", "free (" + (row.billing or "no charge") + ")", row
    state = knowledge.price_state(row, row.price_usd, today)
    text = state.describe(money, unit)
    if state.status == "unconfirmed":
        return "unconfirmed", text, row
    if state.status == "unknown" or state.value is None:
        return "unpriced", text, row
    if row.unit != "per_1m_tokens":
        return "high", text, row
    dec = knowledge.decision()
    if state.value <= dec.threshold("cost_class_low_per_1m").value:
        return "low", text, row
    if state.value >= dec.threshold("cost_class_high_per_1m").value:
        return "high", text, row
    return "medium", text, row


def _candidates_passed(p: knowledge.Provider, m: knowledge.ProviderModel, today: date) -> date | None:
    """With an unknown closing date: the latest candidate date when every source's date has passed."""
    if not p.until_unknown(m):
        return None
    candidates = [c for c in m.until_candidates + p.until_candidates if c.what in ("training", "retirement")]
    if not candidates or any(c.date is None for c in candidates):
        return None
    latest = max(c.date for c in candidates if c.date is not None)
    return latest if latest <= today else None


def _closed(p: knowledge.Provider, m: knowledge.ProviderModel, wanted: str | None) -> str | None:
    """Why the wanted method (default: supervised fine-tuning) no longer takes jobs on this model, when it does not
    and the model offers no other method of that kind."""
    alias = METHOD_ALIAS.get(wanted.lower(), wanted.lower()) if wanted else "sft"
    family = alias.split("_")[0]
    if choose_method(list(m.methods), wanted) is not None:
        return None
    for c in m.methods_closed:
        if c.method == alias or c.method.split("_")[0] == family:
            since = f"since {c.since}" if c.since != knowledge.UNKNOWN else f"no date given; seen closed on {c.checked}"
            instead = f"; instead: {c.instead}" if c.instead else ""
            still = f"; still offered: {', '.join(m.methods)}" if m.methods else ""
            return f"{c.method} no longer accepts new jobs ({since}){instead}{still}"
    return None


def exclusion(
    p: knowledge.Provider, m: knowledge.ProviderModel, req: ProviderRequest, today: date
) -> tuple[str | None, date | None]:
    """(why this model is out, the date that decides it) or (None, None)."""
    until = p.model_until(m)
    serving = p.model_serving_until(m)
    if until is not None and until <= today:
        stop = f"; serving {'ended' if serving <= today else 'ends'} on {serving}" if serving else ""
        return f"closed to new jobs on {until}{stop}" + (f" - {m.note}" if m.note else ""), until
    passed = _candidates_passed(p, m, today)
    if passed is not None:
        return f"every closing date the sources give has passed ({knowledge.candidates_text(m.model_dump())})", passed
    closed = _closed(p, m, req.method)
    if closed:
        return closed, None
    if req.deadline and until is not None and until < req.deadline:
        return f"closes to new jobs on {until}, before your deadline {req.deadline}", until
    if req.deadline and serving is not None and serving < req.deadline:
        return f"serving ends on {serving}, before your deadline {req.deadline}", serving
    return _fit(p, m, req), None


def _fit(p: knowledge.Provider, m: knowledge.ProviderModel, req: ProviderRequest) -> str | None:
    if req.model_size_b is not None and pm.fits_size_class(m.id, req.model_size_b) is False:
        return f"size class {m.id} does not hold a {req.model_size_b:g}B model"
    if (
        req.model_size_b is not None
        and m.params_b is not None
        and pm.size_class_bounds(m.id) is None
        and abs(m.params_b - req.model_size_b) > req.model_size_b * 0.5
    ):
        return f"{m.id} is {m.params_b:g}B, not about {req.model_size_b:g}B"
    if req.needs_tool_calling and m.tool_calling is False:
        return "the fine-tuned model does not support tool calling"
    if req.needs_vision and "image" not in m.modalities and p.kind not in ("self_hosted", "rented_gpu"):
        return "no image input for fine-tuning"
    if req.examples is not None and m.min_examples is not None and req.examples < m.min_examples:
        return f"needs at least {m.min_examples} examples, you have {req.examples}"
    if req.examples is not None and m.max_examples is not None and req.examples > m.max_examples:
        return f"accepts at most {m.max_examples:,} examples, you have {req.examples:,}"
    return None


class Scorer:
    """One option's score, with its parts, fits and concerns."""

    def __init__(self) -> None:
        self.score = 0
        self.parts: list[str] = []
        self.fits: list[str] = []
        self.concerns: list[str] = []

    def bonus(self, points: int, why: str, secondary: bool = False) -> None:
        if secondary and points > 0:
            self.parts.append(f"+0 {why} (secondary source: no bonus)")
            return
        self.score += points
        self.parts.append(f"{points:+d} {why}")


def _privacy(s: Scorer, p: knowledge.Provider, req: ProviderRequest, privacy_matters: bool) -> None:
    if not p.data_leaves_your_machines:
        s.fits.append("data never leaves your machines")
        if privacy_matters:
            s.bonus(3, "data stays")
    elif req.privacy in ("eu_personal_data", "health"):
        s.concerns.append(
            "data leaves your machines: needs a data processing agreement and a lawful basis; scan PII first"
        )
    if req.zero_retention or req.privacy in ("eu_personal_data", "health"):
        if p.zdr == "yes":
            s.bonus(1, "zero retention", p.basis == "secondary")
            s.fits.append("zero data retention" + (f" ({p.zdr_note})" if p.zdr_note else ""))
        elif p.zdr in ("on_request", "unclear", "unknown"):
            s.concerns.append(f"zero data retention: {p.zdr}" + (f" ({p.zdr_note})" if p.zdr_note else ""))


def _dates(s: Scorer, p: knowledge.Provider, m: knowledge.ProviderModel, today: date, horizon: int) -> None:
    until = p.model_until(m)
    serving = p.model_serving_until(m)
    if p.until_unknown(m):
        said = knowledge.candidates_text(m.model_dump()) or m.until_note or p.until_note or ""
        s.concerns.append("closing date unknown" + (f" ({said})" if said else ""))
    elif until is None:
        s.bonus(1, "no announced end", m.basis == "secondary")
    else:
        days = (until - today).days
        if days <= horizon:
            s.bonus(-3, f"closes in {days} days")
        s.concerns.append(f"closes to new jobs on {until}" + (f" ({p.until_note})" if p.until_note else ""))
    if serving is not None:
        s.concerns.append(f"serving of the fine-tune ends on {serving} ({(serving - today).days} days from today)")
    for ms in p.milestones:
        if ms.date == knowledge.UNKNOWN:
            s.concerns.append(f"{ms.event}")
        elif ms.date <= today:
            s.concerns.append(f"since {ms.date}: {ms.event}")
    if m.available_from and m.available_from > today:
        s.concerns.append(f"available only from {m.available_from}")


def _serving(s: Scorer, p: knowledge.Provider, m: knowledge.ProviderModel) -> str:
    serving = p.serving_of(m)
    text = knowledge.serving_text(serving)
    if serving == "dedicated":
        s.concerns.append(
            "the fine-tune is served only on a dedicated deployment billed while it is up, with or without traffic"
            + (f" ({p.hosting_note})" if p.hosting_note else "")
        )
    elif isinstance(serving, knowledge.ServerlessFor):
        s.concerns.append(f"serving: {text}")
    return text


def _asks(
    s: Scorer,
    p: knowledge.Provider,
    m: knowledge.ProviderModel,
    req: ProviderRequest,
    hipaa: bool | None,
    region: bool | None,
    stays: bool | None,
) -> None:
    if hipaa:
        if p.hipaa_baa in ("yes", "not_applicable"):
            s.fits.append("HIPAA: " + (p.hipaa_note or p.hipaa_baa))
        else:
            s.concerns.append("HIPAA BAA: " + (p.hipaa_note or p.hipaa_baa))
    if req.region and stays is not False:
        if region is None:
            s.concerns.append(f"region {req.region!r}: " + (p.residency or "not documented; ask the provider"))
        else:
            s.fits.append(f"processes in {req.region}")
    if req.needs_tool_calling and m.tool_calling is None:
        s.concerns.append("tool calling in the fine-tuned model is not documented in our sources")
    if req.examples is not None and m.recommended_examples and req.examples < m.recommended_examples:
        s.concerns.append(f"{req.examples} examples is below the {m.recommended_examples} the provider recommends")
    if p.trains_on_customer_data in ("opt_in", "no"):
        s.fits.append(
            "does not train on your data" + (" unless you opt in" if p.trains_on_customer_data == "opt_in" else "")
        )


def score_option(
    p: knowledge.Provider,
    m: knowledge.ProviderModel,
    method: str,
    req: ProviderRequest,
    context: tuple[bool | None, bool | None, bool | None, bool],
    today: date,
    horizon: int,
) -> Option:
    """One ranked option. ``context`` is (data may leave, HIPAA needed, region ok, privacy matters)."""
    stays, hipaa, region, privacy_matters = context
    s = Scorer()
    _privacy(s, p, req, privacy_matters)
    if p.kind in OPEN_KINDS:
        s.bonus(2, "portable open weights")
        s.fits.append("you keep the weights (a LoRA adapter outlives any provider)")
    cost_class, price_text, row = training_price(p.id, m.id, method, today)
    points = {"free": 2, "low": 1, "high": -1, "unpriced": -1, "unconfirmed": -1}.get(cost_class, 0)
    if points:
        s.bonus(points, f"cost class {cost_class}", row is not None and row.basis == "secondary")
    if cost_class in ("unpriced", "unconfirmed"):
        s.concerns.append(f"training price: {price_text}")
    _dates(s, p, m, today, horizon)
    serving = _serving(s, p, m)
    if p.eligibility is not None:
        s.concerns.append(f"who can start jobs: {p.eligibility.rule}")
    _asks(s, p, m, req, hipaa, region, stays)
    if m.note:
        s.concerns.append(m.note)
    s.score -= len(s.concerns)
    if s.concerns:
        s.parts.append(f"-{len(s.concerns)} concerns")
    cost = None
    if req.training_tokens is not None and p.kind not in ("self_hosted", "rented_gpu"):
        request = CostRequest(training_tokens=req.training_tokens)
        cost = training_cost(p.id, m.id, method, req.training_tokens, req.examples, None, request, []).cost_usd
    return Option(
        rank=0,
        provider=p.id,
        provider_name=p.name,
        model=m.id,
        method=method,
        kind=p.kind,
        score=s.score,
        score_parts=s.parts,
        fits=s.fits,
        concerns=s.concerns[:10],
        cost_class=cost_class,  # type: ignore[arg-type]
        training_price=price_text,
        training_cost_usd=cost,
        available_until=p.model_until(m),
        serving_until=p.model_serving_until(m),
        end_unknown=p.until_unknown(m),
        serving=serving,
        eligibility=p.eligibility.rule if p.eligibility else None,
    )
