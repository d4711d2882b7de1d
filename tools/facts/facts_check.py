"""facts_check: which facts in reference/data have aged, and which offerings have ended or are closing."""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.resources import reference_data_dir
from tools.knowledge import FACT_MODELS
from tools.knowledge.core import (
    DEFAULT_HORIZON_DAYS,
    FactWarning,
    KnowledgeError,
    row_label,
    row_warnings,
)

MAX_LISTED = 40

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


class FactsCheckRequest(BaseModel):
    today: date | None = Field(
        default=None, description="Date to check against (YYYY-MM-DD); default: today (or FINETUNE_TODAY)."
    )
    max_age_days: int | None = Field(
        default=None,
        ge=0,
        description="Facts older than this many days are stale; default 120 (or FINETUNE_FACTS_MAX_AGE_DAYS).",
    )
    horizon_days: int | None = Field(
        default=None, ge=0, description="Offerings ending within this many days are listed as closing; default 90."
    )


class FactFileSummary(BaseModel):
    file: str
    rows: int
    validated: bool = Field(description="true when a pydantic model checked the whole file")
    error: str | None = None


class FactsCheckReport(BaseModel):
    today: date
    max_age_days: int
    horizon_days: int
    files: list[FactFileSummary]
    rows_checked: int
    secondary_rows: int = Field(description="rows whose source is a third-party compilation")
    headline: list[str] = Field(description="the most important sentences, closing and ended paths first")
    closing: list[FactWarning]
    ended: list[FactWarning]
    deprecated: list[str] = Field(description="offerings marked deprecated without an end date")
    stale: list[FactWarning] = Field(description=f"at most {MAX_LISTED}, oldest first")
    stale_total: int
    invalid: list[str]
    ok: bool = Field(description="false when a file is invalid or a fact is stale")


def _walk(node: Any, file: str, context: str | None, out: list[tuple[str | None, dict[str, Any]]]) -> None:
    if isinstance(node, dict):
        inner = context
        if "source" in node or "as_of" in node:
            out.append((context, node))
            own = node.get("id") or row_label(node)
            inner = f"{context} / {own}" if context else str(own)
        for value in node.values():
            _walk(value, file, inner, out)
    elif isinstance(node, list):
        for value in node:
            _walk(value, file, context, out)


def _generic_problems(node: Any, file: str) -> list[str]:
    """Rows in files without a model: a dict with one of source/as_of must have both."""
    problems = []
    for path, row in knowledge.iter_rows(node):
        missing = [k for k in ("source", "as_of") if k not in row]
        if missing:
            problems.append(f"{file} {path}: missing {' and '.join(missing)}")
    return problems


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
    for path in files:
        name = path.stem
        try:
            raw = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            summaries.append(FactFileSummary(file=path.name, rows=0, validated=False, error=str(exc)[:200]))
            invalid.append(f"{path.name}: not readable YAML")
            continue
        error = None
        model = _model_for(name)
        if model is not None:
            try:
                validated[name] = knowledge.validate_facts(raw, model, path.name)
            except KnowledgeError as exc:
                error = exc.message
                invalid.append(exc.message)
        else:
            problems = _generic_problems(raw, path.name)
            invalid.extend(problems[:10])
            error = problems[0] if problems else None
        rows: list[tuple[str | None, dict[str, Any]]] = []
        _walk(raw, path.name, None, rows)
        file_days = raw.get("review_days") if isinstance(raw, dict) else None
        for context, row in rows:
            rows_checked += 1
            secondary += row.get("basis") == "secondary"
            own = row.get("review_days", file_days)
            row_limit = max_age if max_age is not None else own if isinstance(own, int) else limit
            warnings.extend(
                row_warnings(row, file=path.name, on=now, max_age=row_limit, horizon=ahead, context=context)
            )
            if row.get("status") == "deprecated" and not row.get("available_until"):
                deprecated.append(
                    f"{row_label(row)}: deprecated, no end date published - "
                    f"{row.get('until_note') or row.get('note') or ''}".rstrip(" -")
                )
        summaries.append(
            FactFileSummary(file=path.name, rows=len(rows), validated=model is not None and error is None, error=error)
        )
    invalid.extend(unknown_formats(folder))
    if all(k in validated for k in ("providers", "pricing", "gpus", "training")):
        invalid.extend(
            knowledge.cross_check(
                validated["providers"],
                validated["pricing"],  # type: ignore[arg-type]
                validated["gpus"],
                validated["training"],
            )
        )  # type: ignore[arg-type]

    closing = sorted((w for w in warnings if w.kind in ("closing", "serving_closing")), key=lambda w: w.date)
    ended = sorted((w for w in warnings if w.kind in ("ended", "serving_ended")), key=lambda w: w.date, reverse=True)
    stale = sorted((w for w in warnings if w.kind == "stale"), key=lambda w: w.date)
    headline = _headline(closing, ended, stale, invalid)
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
        deprecated=deprecated,
        stale=stale[:MAX_LISTED],
        stale_total=len(stale),
        invalid=invalid,
        ok=not invalid and not stale,
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
    closing: list[FactWarning], ended: list[FactWarning], stale: list[FactWarning], invalid: list[str]
) -> list[str]:
    lines: list[str] = []
    for w in closing:
        if _is_service(w):
            lines.append(w.summary)
    for w in ended:
        if _is_service(w):
            lines.append(w.summary)
    models_ended = sorted(
        {w.row for w in ended if w.file == "providers.yaml" and not _is_service(w) and w.kind == "ended"}
    )
    if models_ended:
        lines.append("fine-tunable models that already ended: " + ", ".join(models_ended))
    if stale:
        lines.append(f"{len(stale)} facts are older than the age limit; re-check them at their sources")
    if invalid:
        lines.append(f"{len(invalid)} problems in reference/data; see `invalid`")
    return lines


@tool(effect="read", stage="reference")
def facts_check(req: FactsCheckRequest) -> FactsCheckReport:
    """List facts in reference/data that are older than the allowed age, and provider paths or models that have ended
    or close soon (relative to today's date). Use it before planning a fine-tune to learn which paths are closed
    (e.g. OpenAI self-serve fine-tuning takes no new jobs from 2027-01-06), and when maintaining the knowledge base.
    It does not fetch anything; prices are re-checked with `finetune facts refresh`."""
    return check(req.today, req.max_age_days, req.horizon_days)
