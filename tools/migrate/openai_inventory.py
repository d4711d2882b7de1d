"""openai_inventory: the organisation's OpenAI fine-tunes, what they were trained on, and how long they serve."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current, write_bytes_atomic, write_text_atomic
from tools.migrate import openai_wire as wire
from tools.migrate.facts import MIGRATIONS_DIR, base_of, folder_of, model_dates, setting, slug
from tools.migrate.models import FineTune, OpenAIInventoryRequest, OpenAIInventoryResult

INVENTORY_FILE = f"{MIGRATIONS_DIR}/inventory.json"
MODEL_FILE = "model.json"


def _day(stamp: Any) -> date | None:
    try:
        return datetime.fromtimestamp(int(stamp), UTC).date()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _hyper(job: dict[str, Any]) -> str | None:
    """The hyperparameters a job recorded: the method's own, else the older top-level field."""
    method = job.get("method") or {}
    kind = method.get("type") if isinstance(method, dict) else None
    inner = (method.get(kind) or {}).get("hyperparameters") if kind and isinstance(method.get(kind), dict) else None
    values = inner or job.get("hyperparameters") or {}
    if not isinstance(values, dict) or not values:
        return None
    return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)


def _method(job: dict[str, Any]) -> str | None:
    method = job.get("method")
    return str(method.get("type")) if isinstance(method, dict) and method.get("type") else "supervised"


def describe(model: str, usage: knowledge.FactUsage, job: dict[str, Any] | None = None) -> FineTune:
    """One fine-tune with the dates the facts give for its base."""
    base = base_of(model) if model.startswith("ft:") else str((job or {}).get("model") or base_of(model))
    dates = model_dates(base, usage)
    ft = FineTune(
        model=model,
        base=base,
        status=dates.status,  # type: ignore[arg-type]
        closes=dates.closes,
        serving_until=dates.serving_until,
        days_left=dates.days_left,
        folder=folder_of(model),
    )
    if not dates.known:
        ft.notes.append(dates.describe())
    elif not dates.serving:
        ft.notes.append(f"stopped serving on {dates.serving_until}: its answers can no longer be recorded")
    if job:
        ft.job_id = job.get("id")
        ft.created = _day(job.get("created_at"))
        ft.method = _method(job)
        ft.hyperparameters = _hyper(job)
        ft.trained_tokens = job.get("trained_tokens")
        ft.training_file_id = job.get("training_file")
        ft.validation_file_id = job.get("validation_file")
    return ft


def _download(ws: Workspace, c: Any, ft: FineTune) -> None:
    """The job's training and validation files into the model's folder, named by file id (an id never changes
    content, so a file already there is kept)."""
    for attr, file_id in (("training_file", ft.training_file_id), ("validation_file", ft.validation_file_id)):
        if not file_id:
            continue
        target = ws.output_file(f"{ft.folder}/{slug(file_id)}.jsonl", what=f"{attr.replace('_', ' ')} copy")
        if not target.is_file():
            data = wire.file_content(c, file_id)
            if data is None:
                ft.notes.append(
                    f"{attr.replace('_', ' ')} {file_id} is no longer at OpenAI (deleted); give your own copy "
                    "with training_file"
                )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, data)
        setattr(ft, attr, ws.relative(target))


def _from_api(
    ws: Workspace, req: OpenAIInventoryRequest, usage: knowledge.FactUsage
) -> tuple[list[FineTune], int, bool]:
    c = wire.client()
    jobs, truncated = wire.list_jobs(c, int(setting("list_page_size")), int(setting("list_max_pages")))
    models = {m["id"]: m for m in wire.list_models(c)}
    found: dict[str, FineTune] = {}
    for job in jobs:  # newest first: the newest job that produced a model describes it
        name = job.get("fine_tuned_model")
        if not name or name in found or (req.model and name != req.model):
            continue
        found[name] = describe(str(name), usage, job)
    for name in models:
        if name.startswith("ft:") and name not in found and (not req.model or name == req.model):
            ft = describe(name, usage)
            ft.notes.append("listed by /v1/models, but no fine-tuning job in the organisation's job list made it")
            found[name] = ft
    if req.model and req.model not in found:
        raise ToolError(
            "unknown_model",
            f"{req.model} is neither a model this key can use nor the output of one of its fine-tuning jobs",
            "check the id with `finetune migrate inventory` (no --model), or that the key belongs to the organisation "
            "that owns it",
        )
    for name, ft in found.items():
        shutdown = (models.get(name) or {}).get("shutdown_date")
        if shutdown:
            ft.api_shutdown_date = str(shutdown)
            if ft.serving_until is not None and str(ft.serving_until) != str(shutdown):
                ft.notes.append(
                    f"OpenAI's /v1/models says shutdown_date {shutdown}, our facts say {ft.serving_until}: re-check "
                    "reference/data/providers.yaml (`finetune facts check`)"
                )
        if req.download:
            _download(ws, c, ft)
    return list(found.values()), len(jobs), truncated


def _from_file(ws: Workspace, req: OpenAIInventoryRequest, usage: knowledge.FactUsage) -> FineTune:
    if not req.model:
        raise ToolError(
            "missing_model",
            "training_file needs model: the fine-tuned model it trained",
            "give model=ft:<base>:<org>:<name>:<id> (or the base snapshot, e.g. gpt-4o-mini-2024-07-18)",
        )
    assert req.training_file is not None
    path = ws.input_file(req.training_file, what="training file")
    ft = describe(req.model, usage)
    ft.training_file = ws.relative(path)
    ft.notes.append("described from a local file: job, hyperparameters and creation date are not known here")
    return ft


def _write(ws: Workspace, models: list[FineTune], today: date) -> str:
    target = ws.output_file(INVENTORY_FILE, what="inventory")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"today": str(today), "models": [m.model_dump(mode="json") for m in models]}
    write_text_atomic(target, json.dumps(payload, indent=2) + "\n")
    for m in models:
        folder = ws.output_file(f"{m.folder}/{MODEL_FILE}", what="model record")
        folder.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder, json.dumps(m.model_dump(mode="json"), indent=2) + "\n")
    return ws.relative(target)


def read_model(ws: Workspace, model: str) -> FineTune | None:
    """What an earlier inventory recorded about ``model`` (migrations/<model>/model.json), if anything."""
    path = ws.root / folder_of(model) / MODEL_FILE
    if not path.is_file():
        return None
    try:
        return FineTune.model_validate_json(path.read_text("utf-8"))
    except ValueError:
        return None


def recorded_training_file(ws: Workspace, model: str) -> Path | None:
    """The training file the inventory downloaded or was given for ``model``."""
    ft = read_model(ws, model)
    if ft is None or not ft.training_file:
        return None
    path = ws.root / ft.training_file
    return path if path.is_file() else None


@tool(effect="write", stage="migrate")
def openai_inventory(req: OpenAIInventoryRequest) -> OpenAIInventoryResult:
    """List the fine-tuned OpenAI models to move before OpenAI stops serving them: for each, its base snapshot,
    fine-tuning job, training and validation files (downloaded into migrations/<model>/), hyperparameters, creation
    date, the day OpenAI takes no new jobs and the day the model stops serving (from reference/data), and the days
    left. Reads the organisation's jobs and models with OPENAI_API_KEY (no cost); or, given model and training_file,
    describes one fine-tune from local files without any API call.

    Next: record_golden_outputs (the old model's answers, while it still serves), then choose_replacement."""
    ws = current()
    today = knowledge.today()
    usage = knowledge.FactUsage(today)
    if req.training_file:
        models, jobs_seen, truncated, source = [_from_file(ws, req, usage)], 0, False, "local"
    else:
        models, jobs_seen, truncated = _from_api(ws, req, usage)
        source = "openai"
    models.sort(key=lambda m: (m.serving_until or date.max, m.model))
    file = _write(ws, models, today)
    warnings = usage.notices()
    if truncated:
        warnings.append(
            f"the organisation has more than {jobs_seen} fine-tuning jobs; only the newest were read "
            "(name one with model)"
        )
    return OpenAIInventoryResult(
        source=source,  # type: ignore[arg-type]
        today=today,
        models=models,
        jobs_seen=jobs_seen,
        truncated=truncated,
        file=file,
        warnings=warnings,
    )


__all__ = [
    "OpenAIInventoryRequest",
    "OpenAIInventoryResult",
    "describe",
    "openai_inventory",
    "read_model",
    "recorded_training_file",
]
