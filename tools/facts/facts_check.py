"""facts_check: which facts in reference/data have aged, and which offerings have ended or are closing."""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import reference_data_dir
from tools.facts.models import MAX_LISTED, FactFileSummary, FactsCheckReport, FactsCheckRequest
from tools.knowledge import FACT_MODELS
from tools.knowledge.ageing import ended_offering, value_free
from tools.knowledge.core import (
    DEFAULT_HORIZON_DAYS,
    FactWarning,
    KnowledgeError,
    row_label,
    row_warnings,
)

OTHER_FACT_MODELS = {
    "formats": "tools.data.formats:FormatFacts",
    "diagnose": "tools.diagnose.facts:DiagnoseFacts",
    "agent_models": "tools.llm.pricing:AgentModelsFile",
    "lora_defaults": "tools.plan.training_plan:LoraDefaults",
    "pii": "tools.pii.recognizers:PiiFacts",
}
"""Files other modules own, validated with their models when those import; else checked generically."""


def _model_for(name: str) -> type[BaseModel] | None:
    if name in FACT_MODELS:
        return FACT_MODELS[name]
    target = OTHER_FACT_MODELS.get(name)
    if target is None:
        return None
    module, _, attr = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _walk(node: Any, context: str | None, out: list[tuple[str | None, dict[str, Any]]]) -> None:
    if isinstance(node, dict):
        inner = context
        if "source" in node or "as_of" in node or "checked" in node:
            out.append((context, node))
            own = node.get("id") or row_label(node)
            inner = f"{context} / {own}" if context else str(own)
        for value in node.values():
            _walk(value, inner, out)
    elif isinstance(node, list):
        for value in node:
            _walk(value, context, out)


def _generic_problems(node: Any, file: str) -> list[str]:
    """Rows in files without a model: a dict with a source must say when it was read, and the other way round."""
    problems = []
    for path, row in knowledge.iter_rows(node):
        missing = [k for k in ("source",) if k not in row] + ([] if "as_of" in row or "checked" in row else ["checked"])
        if missing:
            problems.append(f"{file} {path}: missing {' and '.join(missing)}")
    return problems


PRICE_SECTIONS = {
    "pricing": ("training", "inference", "hosting", "storage", "discounts"),
    "gpus": ("offers",),
}


def _over(row: dict[str, Any], now: date) -> bool:
    """Past its review age and still live."""
    return knowledge.is_stale(row, now) and not ended_offering(row, now)


def expired_in_use(raws: dict[str, Any], now: date) -> list[str]:
    """Ranking and pricing rows past their expiry that a tool would still compute with: prices that are not null,
    and live providers and models. The test suite fails on any (re-check them, or keep the figure as last_known)."""
    found: list[str] = []
    for name, sections in PRICE_SECTIONS.items():
        for section in sections:
            for i, row in enumerate((raws.get(name) or {}).get(section) or []):
                if not value_free(row) and _over(row, now):
                    found.append(f"{name}.yaml {section}[{i}] {row_label(row)}: dated {knowledge.fact_date(row)}")
    for p in (raws.get("providers") or {}).get("providers") or []:
        if p.get("status") in ("ended", "deprecated") or ended_offering(p, now):
            continue
        for row, label in [(p, p.get("id"))] + [(m, f"{p.get('id')} / {m.get('id')}") for m in p.get("models") or []]:
            if _over(row, now):
                found.append(f"providers.yaml {label}: checked {knowledge.fact_date(row)}")
    return found


def _validate(name: str, raw: Any, label: str) -> tuple[BaseModel | None, str | None, list[str]]:
    """(validated model or None, the first error, every problem) for one prepared file."""
    model = _model_for(name)
    if model is None:
        problems = _generic_problems(raw, label)
        return None, problems[0] if problems else None, problems[:10]
    try:
        return knowledge.validate_facts(knowledge.fit_raw(raw, model), model, label), None, []
    except KnowledgeError as exc:
        return None, exc.message, [exc.message]


def _row_findings(
    raw: Any, file: str, now: date, max_age: int | None, ahead: int
) -> tuple[int, int, list[FactWarning], list[str]]:
    """(rows, secondary rows, warnings, deprecated lines) for one file."""
    rows: list[tuple[str | None, dict[str, Any]]] = []
    _walk(raw, None, rows)
    warnings: list[FactWarning] = []
    deprecated: list[str] = []
    secondary = 0
    for context, row in rows:
        secondary += row.get("basis") == "secondary"
        warnings.extend(row_warnings(row, file=file, on=now, max_age=max_age, horizon=ahead, context=context))
        if row.get("status") == "deprecated" and not row.get("available_until"):
            deprecated.append(
                f"{row_label(row)}: deprecated, no end date published - "
                f"{row.get('until_note') or row.get('note') or ''}".rstrip(" -")
            )
    return len(rows), secondary, warnings, deprecated


def check(
    on: date | None = None,
    max_age: int | None = None,
    horizon: int | None = None,
    data_dir: Path | None = None,
) -> FactsCheckReport:
    """The whole check, as a function (the tool and tests call it)."""
    now = on or knowledge.today()
    limit = knowledge.max_age_days() if max_age is None else max_age
    ahead = DEFAULT_HORIZON_DAYS if horizon is None else horizon
    folder = data_dir or reference_data_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ToolError("no_facts", f"no YAML files in {folder}", "reinstall finetune-skill")

    summaries: list[FactFileSummary] = []
    warnings: list[FactWarning] = []
    invalid: list[str] = []
    deprecated: list[str] = []
    rows_checked = secondary = 0
    validated: dict[str, BaseModel] = {}
    raws: dict[str, Any] = {}
    for path in files:
        try:
            raw = knowledge.read_prepared(path)
        except KnowledgeError as exc:
            summaries.append(FactFileSummary(file=path.name, rows=0, validated=False, error=exc.message[:200]))
            invalid.append(exc.message)
            continue
        raws[path.stem] = raw
        model, error, problems = _validate(path.stem, raw, path.name)
        invalid.extend(problems)
        if model is not None:
            validated[path.stem] = model
        n, sec, found, dep = _row_findings(raw, path.name, now, max_age, ahead)
        rows_checked, secondary = rows_checked + n, secondary + sec
        warnings.extend(found)
        deprecated.extend(dep)
        summaries.append(
            FactFileSummary(
                file=path.name, rows=n, validated=_model_for(path.stem) is not None and error is None, error=error
            )
        )
    invalid.extend(unknown_formats(folder))
    invalid.extend(_cross(validated))
    negative = (
        knowledge.violations(validated["negative_facts"], raws) if "negative_facts" in validated else []  # type: ignore[arg-type]
    )
    return _report(now, limit, ahead, summaries, rows_checked, secondary, warnings, deprecated, invalid, negative, raws)


def _cross(validated: dict[str, BaseModel]) -> list[str]:
    if not all(k in validated for k in ("providers", "pricing", "gpus", "training")):
        return []
    return knowledge.cross_check(
        validated["providers"],  # type: ignore[arg-type]
        validated["pricing"],  # type: ignore[arg-type]
        validated["gpus"],  # type: ignore[arg-type]
        validated["training"],  # type: ignore[arg-type]
    )


def _report(
    now: date,
    limit: int,
    ahead: int,
    summaries: list[FactFileSummary],
    rows_checked: int,
    secondary: int,
    warnings: list[FactWarning],
    deprecated: list[str],
    invalid: list[str],
    negative: list[str],
    raws: dict[str, Any],
) -> FactsCheckReport:
    closing = sorted((w for w in warnings if w.kind in ("closing", "serving_closing")), key=lambda w: w.date or now)
    ended = sorted(
        (w for w in warnings if w.kind in ("ended", "serving_ended")), key=lambda w: w.date or now, reverse=True
    )
    unknown = [w for w in warnings if w.kind == "end_unknown"]
    stale = sorted((w for w in warnings if w.kind == "stale"), key=lambda w: w.date or now)
    in_use = expired_in_use(raws, now)
    headline = _headline(closing, ended, unknown, stale, in_use, negative, invalid)
    return FactsCheckReport(
        today=now,
        max_age_days=limit,
        horizon_days=ahead,
        files=summaries,
        rows_checked=rows_checked,
        secondary_rows=secondary,
        headline=headline,
        closing=closing[:MAX_LISTED],
        ended=ended[:MAX_LISTED],
        unknown_ends=unknown[:MAX_LISTED],
        deprecated=deprecated,
        stale=stale[:MAX_LISTED],
        stale_total=len(stale),
        expired_in_use=in_use,
        negative_violations=negative,
        invalid=invalid,
        ok=not invalid and not stale and not negative,
    )


EXTRA_FORMATS = {"openai_rft"}
"""Format ids providers.yaml may use that formats.yaml does not validate."""


def unknown_formats(folder: Path) -> list[str]:
    """Format ids in providers.yaml that formats.yaml (owned by the data tools) does not define."""
    try:
        formats = yaml.safe_load((folder / "formats.yaml").read_text("utf-8"))
        providers = yaml.safe_load((folder / "providers.yaml").read_text("utf-8"))
        known = {f for t in formats["targets"] for f in t.get("formats", [])} | EXTRA_FORMATS
        rows = [(p["id"], p.get("formats", [])) for p in providers["providers"]]
        rows += [
            (f"{p['id']}/{m['id']}", m.get("formats", [])) for p in providers["providers"] for m in p.get("models", [])
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []
    return [
        f"providers.yaml {where}: format {f!r} is not defined in formats.yaml"
        for where, used in rows
        for f in used
        if f not in known
    ]


def _is_service(w: FactWarning) -> bool:
    return w.file == "providers.yaml" and w.parent is None


def _headline(
    closing: list[FactWarning],
    ended: list[FactWarning],
    unknown: list[FactWarning],
    stale: list[FactWarning],
    in_use: list[str],
    negative: list[str],
    invalid: list[str],
) -> list[str]:
    lines: list[str] = [w.summary for w in closing if _is_service(w)]
    lines += [w.summary for w in ended if _is_service(w)]
    models_ended = sorted(
        {w.row for w in ended if w.file == "providers.yaml" and not _is_service(w) and w.kind == "ended"}
    )
    if models_ended:
        lines.append("fine-tunable models closed to new jobs: " + ", ".join(models_ended))
    models_unknown = sorted({w.row for w in unknown if w.file == "providers.yaml"})
    if models_unknown:
        lines.append("end date unknown (sources disagree or give none): " + ", ".join(models_unknown))
    if stale:
        lines.append(f"{len(stale)} facts are past their review age; re-check them at their sources")
    if in_use:
        lines.append(f"{len(in_use)} ranking or pricing rows are past their expiry but still carry a value")
    if negative:
        lines.append(f"{len(negative)} rows bring back claims negative_facts.yaml forbids")
    if invalid:
        lines.append(f"{len(invalid)} problems in reference/data; see `invalid`")
    return lines


@tool(effect="read", stage="reference")
def facts_check(req: FactsCheckRequest) -> FactsCheckReport:
    """List facts in reference/data that are older than the allowed age, and provider paths or models that have ended
    or close soon (relative to today's date). Use it before planning a fine-tune to learn which paths are closed
    (e.g. OpenAI self-serve fine-tuning takes no new jobs from 2027-01-06), and when maintaining the knowledge base.
    Each row's review age comes from its file's expiry (prices 60 days, GPU rental 30, provider rows 90) and
    counts from the page's own date for prices, from the day we read it for the rest. It does not fetch anything;
    inference prices are re-checked with `finetune facts refresh`."""
    return check(req.today, req.max_age_days, req.horizon_days)
