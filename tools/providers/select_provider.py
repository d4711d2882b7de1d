"""select_provider: constraints -> a ranked list of concrete fine-tuning options, with reasons.

Options are every (provider, model) of ``reference/data/providers.yaml`` that trains, with the best
matching method. Hard constraints exclude an option and say why (with the date when a service or
model closes to new jobs, or its serving ends); soft ones add a concern. The ranking is a deterministic
score whose parts are listed with each option (``score_parts``; see :mod:`tools.providers.scoring`);
ties break on provider and model id.
"""

from __future__ import annotations

from datetime import date

from tools import knowledge
from tools.core.registry import tool
from tools.plan import plan_math as pm
from tools.providers.models import Excluded, Option, ProviderRanking, ProviderRequest
from tools.providers.scoring import RANKING, choose_method, constraints, exclusion, region_ok, score_option

MAX_OPTIONS = 12


def _provider_out(
    p: knowledge.Provider, req: ProviderRequest, stays: bool | None, hipaa: bool | None, today: date
) -> Excluded | None:
    """Why a whole provider is out, or None."""
    until = knowledge.known_date(p.available_until)
    if p.status in ("ended", "deprecated") or (until is not None and until <= today):
        what = f"closed to new jobs on {until}" if until else p.status
        return Excluded(
            provider=p.id,
            model=None,
            end_date=until,
            reason=f"{p.name}: {what}" + (f" - {p.until_note}" if p.until_note else ""),
        )
    if stays is False and p.data_leaves_your_machines:
        return Excluded(provider=p.id, model=None, reason="the data would leave your machines")
    if hipaa and p.hipaa_baa in ("no", "limited"):
        return Excluded(
            provider=p.id, model=None, reason=f"no HIPAA BAA for fine-tuning ({p.hipaa_note or p.hipaa_baa})"
        )
    if req.zero_retention and p.zdr == "no":
        return Excluded(provider=p.id, model=None, reason=f"no zero data retention ({p.zdr_note or 'zdr: no'})")
    if req.region and stays is not False and region_ok(p, req.region) is False:
        return Excluded(
            provider=p.id,
            model=None,
            reason=f"no processing in region {req.region!r} (regions: {', '.join(p.regions)})",
        )
    return None


def _model_out(
    p: knowledge.Provider, m: knowledge.ProviderModel, req: ProviderRequest, today: date
) -> tuple[str | None, str | None, date | None]:
    """(method, why the model is out, the date that decides it)."""
    reason, when = exclusion(p, m, req, today)
    if reason is None and not pm.family_matches(p, m, req.model_family):
        reason = f"family {m.family} is not {req.model_family!r}"
    method = choose_method(list(m.methods), req.method) if reason is None else None
    if reason is None and method is None:
        reason = (
            "serving only: train elsewhere, then import"
            if not m.methods
            else f"no {req.method or 'supervised'} method (has {', '.join(m.methods)})"
        )
    return method, reason, when


def _over_budget(options: list[Option], req: ProviderRequest, excluded: list[Excluded]) -> list[Option]:
    if req.training_budget_usd is None or req.training_tokens is None:
        return options
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
    return kept


@tool(effect="read", stage="provider")
def select_provider(req: ProviderRequest) -> ProviderRanking:
    """Ranks concrete places to fine-tune (provider + model + method: managed APIs, cloud platforms, open-weight APIs,
    your own GPUs, rented GPUs) against constraints: data may not leave your machines, region, zero retention, HIPAA
    BAA, budget, model family or size, tool calling or vision, deadline, number of examples. Each option says why it
    fits, why not, its cost class (unconfirmed when the price is past its expiry), how the fine-tune is served
    (serverless or a dedicated deployment billed while it is up), who may still start jobs, and when it closes to new
    jobs and when its serving ends; closed offerings, closed methods and those ending before the deadline are
    excluded with the date.

    Deterministic: the score and its parts are returned with each option; rows backed only by a secondary source
    earn no bonus. It reads providers.yaml and pricing.yaml only and never contacts a provider; re-check a chosen
    option's live status before uploading data. Run estimate_cost next for the money.
    """
    today = knowledge.today()
    stays, hipaa, said, findings = constraints(req, today)
    privacy_matters = stays is False or req.privacy in ("eu_personal_data", "health") or bool(req.zero_retention)
    horizon = knowledge.DEFAULT_HORIZON_DAYS
    options: list[Option] = []
    excluded: list[Excluded] = []
    for p in knowledge.providers().providers:
        if p.kind == "eval_service":
            continue
        out = _provider_out(p, req, stays, hipaa, today)
        if out is not None:
            excluded.append(out)
            continue
        region = region_ok(p, req.region) if req.region and stays is not False else True
        for m in p.models:
            method, reason, when = _model_out(p, m, req, today)
            if reason is not None or method is None:
                excluded.append(Excluded(provider=p.id, model=m.id, reason=reason or "no method", end_date=when))
                continue
            context = (stays, hipaa, region, privacy_matters)
            options.append(score_option(p, m, method, req, context, today, horizon))
    options = _over_budget(options, req, excluded)
    options.sort(key=lambda o: (-o.score, o.provider, o.model))
    for i, o in enumerate(options, 1):
        o.rank = i
    usage = knowledge.FactUsage(today)
    for o in options[:5]:
        knowledge.offering_usage(o.provider, o.model, usage, o.method)
    if not options:
        findings.append("no option meets every constraint; relax one (see excluded for the reasons)")
    return ProviderRanking(
        options=options[:MAX_OPTIONS],
        excluded=excluded[:40],
        ranking=RANKING,
        constraints=said,
        findings=findings,
        warnings=usage.notices(),
    )
