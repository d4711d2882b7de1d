"""Which paths estimate_cost prices: the one named, or every live one; closed offerings are refused by name.

A path is (provider, model, method). Named, it is refused when it has closed to new jobs (with the date, even when
its price is still in the data), when every closing date the sources give has passed, or when the method no
longer takes jobs. Compared, such paths are left out with the same reasons.
"""

from __future__ import annotations

from datetime import date

from tools import knowledge
from tools.core.errors import ToolError
from tools.cost.models import CostRequest
from tools.plan import plan_math as pm

SFT_METHODS = ("sft", "sft_lora")


def closed_reason(
    p: knowledge.Provider, m: knowledge.ProviderModel | None, method: str | None, today: date
) -> tuple[str, date | None] | None:
    """(why the path takes no new jobs, the date) or None when it is open."""
    until = p.model_until(m) if m is not None else knowledge.known_date(p.available_until)
    serving = p.model_serving_until(m) if m is not None else knowledge.known_date(p.serving_until)
    label = f"{p.id} / {m.id}" if m is not None else p.id
    if p.status in ("ended", "deprecated") and until is None:
        return f"{label}: {p.status}" + (f" ({p.until_note})" if p.until_note else ""), None
    if until is not None and until <= today:
        stop = ""
        if serving is not None:
            stop = f"; serving {'ended' if serving <= today else 'ends'} on {serving}"
        return f"{label} closed to new jobs on {until}{stop}", until
    if m is not None and p.until_unknown(m):
        dates = [c.date for c in m.until_candidates if c.what in ("training", "retirement")]
        if dates and all(d is not None and d <= today for d in dates):
            return (
                f"{label}: every closing date the sources give has passed "
                f"({knowledge.candidates_text(m.model_dump())})",
                max(d for d in dates if d is not None),
            )
    if m is not None and method is not None:
        closed = p.closed_method(m, method)
        if closed is not None:
            since = f"since {closed.since}" if closed.since != knowledge.UNKNOWN else "no date given"
            instead = f"; instead: {closed.instead}" if closed.instead else ""
            return f"{label}: {method} no longer accepts new jobs ({since}, seen {closed.checked}){instead}", None
    return None


def _named(req: CostRequest, today: date) -> list[tuple[str, str, str]]:
    prov = knowledge.providers()
    price = knowledge.pricing()
    p = prov.provider(req.provider or "")
    if p.kind == "eval_service":
        raise ToolError(
            "not_a_training_path", f"provider {p.id!r} is not a fine-tuning path", "choose a training provider"
        )
    if p.kind in ("self_hosted", "rented_gpu"):
        model = p.models[0].id if p.models else "open-weight-any"
        return [(p.id, model, req.method or "sft_lora")]
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
    model = next((m for m in p.models if m.id == model_id), None)
    methods = sorted({r.method for r in rows if r.model == model_id})
    method = req.method or next((m for m in SFT_METHODS if m in methods), methods[0] if methods else "sft")
    closed = closed_reason(p, model, method, today)
    if closed is not None:
        raise ToolError(
            "offering_ended",
            closed[0],
            "it takes no new fine-tuning jobs, so it is not priced; `finetune providers` lists the live paths",
        )
    if methods and method not in methods:
        raise ToolError(
            "unknown_method",
            f"{p.id} / {model_id} is not priced for method {method!r}",
            "priced methods: " + ", ".join(methods),
        )
    return [(p.id, model_id, method)]


def default_paths(req: CostRequest, today: date) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(provider, model, method) to price, and the paths left out with why."""
    if req.provider:
        return _named(req, today), []
    prov = knowledge.providers()
    params, _ = pm.model_size(req.open_weight_model, req.model_params_b)
    paths: list[tuple[str, str, str]] = []
    excluded: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in knowledge.pricing().training:
        if row.method not in SFT_METHODS or (row.provider, row.model) in seen:
            continue
        p = prov.provider(row.provider)
        model = next((m for m in p.models if m.id == row.model), None)
        if model is None or not pm.family_matches(p, model, req.family):
            continue
        if pm.fits_size_class(row.model, params) is False:
            continue
        named = model.params_b is not None and pm.size_class_bounds(row.model) is None
        if named and row.model.lower() not in (req.open_weight_model or "").lower():
            continue  # a specific large model (gpt-oss-120b): priced only when asked for by name
        seen.add((row.provider, row.model))
        closed = closed_reason(p, model, row.method, today)
        row_until = row.known_until()
        if closed is None and row_until is not None and row_until <= today:
            closed = (f"{row.provider} / {row.model}: closed to new jobs on {row_until}", row_until)
        if closed is not None:
            excluded.append(closed[0])
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
