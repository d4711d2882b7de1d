"""launch_provider_job and provider_job_status: fine-tuning jobs at OpenAI or Together, kept as runs/<id>/.

A provider run folder holds ``config.json`` (kind ``provider_job``, the request, the data's sha256 and the
idempotency key), ``status.json`` (provider, job id, uploaded file ids, state, output model, error),
``events.jsonl`` and ``metrics.jsonl`` (one line per step the provider reported). The idempotency key is a
hash of the request and the data, written before anything is sent; every launch first looks for a run
folder with that key and then in the provider's job list, so a retried or resumed launch never creates a
second job. API keys come from the environment only (OPENAI_API_KEY, TOGETHER_API_KEY) and are never written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from tools import knowledge
from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.voice import say
from tools.core.workspace import Workspace, current, sha256_file, write_text_atomic
from tools.jobs.models import (
    LaunchProviderJobRequest,
    LaunchProviderJobResult,
    ProviderJobInfo,
    ProviderJobStatusRequest,
    ProviderJobStatusResult,
)
from tools.knowledge.core import data_path
from tools.knowledge.lora_defaults import DefaultRow
from tools.plan import plan_math as pm
from tools.train.runs import now_iso, read_json, run_dir, runs_root, update_status, write_json

KIND = "provider_job"


class ProviderJobsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: list[DefaultRow]


@cache
def settings() -> dict[str, Any]:
    """``reference/data/provider_jobs.yaml`` as name -> value (validated: every row has source and as_of)."""
    raw = yaml.safe_load(data_path("provider_jobs").read_text("utf-8"))
    parsed = knowledge.validate_facts(raw, ProviderJobsFile, "provider_jobs.yaml")
    return {row.name: row.value for row in parsed.settings}  # type: ignore[attr-defined]


def _module(provider: str) -> ModuleType:
    if provider == "openai":
        from tools.jobs import openai_api as openai_jobs

        return openai_jobs
    from tools.jobs import together_api as together_jobs

    return together_jobs


# ----------------------------------------------------------------------------- checks and plan


def _offering(req: LaunchProviderJobRequest) -> tuple[Any, str | None, list[str]]:
    """(provider row, end date as text, warnings); ToolError once the offering takes no new jobs."""
    today = knowledge.today()
    prov = knowledge.providers().provider(req.provider)
    until = prov.available_until
    label = prov.name
    model_row = None
    if req.provider == "openai":
        model_row = next((m for m in prov.models if m.id == req.model), None)
        if model_row is not None:
            until = prov.model_until(model_row)
            label = f"{prov.name}, model {req.model}"
            wanted = "dpo" if req.method == "dpo" else "sft"
            if wanted not in model_row.methods:
                raise ToolError(
                    "method_not_supported",
                    f"openai model {req.model} cannot be tuned with {req.method}",
                    f"its methods: {', '.join(model_row.methods)}",
                )
    if until is not None and today >= until:
        raise ToolError(
            "offering_ended",
            f"{label} takes no new fine-tuning jobs since {until} (today is {today})",
            (prov.until_note or "") + " Pick another path with select_provider (Together, Fireworks, "
            "a local LoRA run with launch_lora).",
        )
    try:
        warnings = [w.message for w in knowledge.offering_warnings(req.provider, model_row.id if model_row else None)]
    except ToolError:
        warnings = []
    return prov, str(until) if until else None, warnings


def _together_size_class(model: str) -> str | None:
    size, _ = pm.model_size(model, None)
    rows = [m for m in knowledge.providers().provider("together").models if m.family == "open-weight" and m.params_b]
    for m in sorted(rows, key=lambda m: m.params_b or 0):
        if size <= (m.params_b or 0):
            return m.id
    return None


def _estimate(req: LaunchProviderJobRequest) -> tuple[float | None, str]:
    """(dollars, how): estimate_cost on the real data with the provider's billing rules."""
    from tools.cost.estimate_cost import estimate_cost
    from tools.cost.models import CostRequest

    if req.provider == "openai":
        model, method, open_weight = req.model, ("dpo" if req.method == "dpo" else "sft"), None
    else:
        model, method, open_weight = (
            _together_size_class(req.model),
            ("dpo_lora" if req.method == "dpo" else "sft_lora"),
            req.model,
        )
        if model is None:
            return None, f"no Together size class in providers.yaml fits {req.model}; cost unknown"
    try:
        est = estimate_cost(
            CostRequest(
                dataset=req.data,
                validation_dataset=req.validation_data,
                provider=req.provider,
                model=model,
                method=method,
                open_weight_model=open_weight,
                epochs=float(req.epochs) if req.epochs else None,
                n_evals=1 if req.validation_data and req.provider == "together" else None,
            )
        )
    except ToolError as exc:
        return None, f"cost unknown: {exc.message}"
    if not est.options:
        return None, "cost unknown: estimate_cost found no priced path"
    t = est.options[0].training
    price = f"${t.price_usd:g}" if t.price_usd is not None else "an unconfirmed price"
    how = (
        f"estimate_cost: {req.provider} / {model} / {method}, {t.billed_tokens or 0:,} billed tokens "
        f"({t.epochs:g} epochs) at {price} {knowledge.UNIT_TEXT.get(t.unit, t.unit)}; {t.billing}"
    )
    return t.cost_usd, how


def _key(req: LaunchProviderJobRequest, data_sha: str, val_sha: str | None) -> str:
    fields = req.model_dump(exclude={"confirm", "data", "validation_data"})
    fields.update(data_sha=data_sha, val_sha=val_sha)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def _suffix(req: LaunchProviderJobRequest, key: str) -> str:
    limit = int(settings()["suffix_max_chars"])
    base = re.sub(r"[^A-Za-z0-9-]+", "-", req.suffix or "ft").strip("-") or "ft"
    tail = f"-{key[:12]}"
    return base[: limit - len(tail)] + tail


def _find_run(ws: Workspace, key: str) -> Path | None:
    for cfg_path in sorted(runs_root(ws).glob("*/config.json")):
        cfg = read_json(cfg_path)
        if cfg.get("kind") == KIND and cfg.get("idempotency_key") == key:
            return cfg_path.parent
    return None


def _new_run_id(ws: Workspace, req: LaunchProviderJobRequest, key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", req.run_name or req.model.rsplit("/", 1)[-1]).strip("-.")[:40] or "job"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{req.provider}-{slug}-{key[:6]}"


# ----------------------------------------------------------------------------- folder <-> info


def job_info(ws: Workspace, folder: Path) -> ProviderJobInfo:
    status = read_json(folder / "status.json")
    config = read_json(folder / "config.json")
    latest = status.get("latest") or {}
    return ProviderJobInfo(
        run_id=folder.name,
        provider=str(config.get("provider")),
        model=(config.get("plan") or {}).get("base_model"),
        method=(config.get("plan") or {}).get("method"),
        job_id=status.get("job_id"),
        state=str(status.get("state") or "queued"),
        provider_state=status.get("provider_state"),
        output_model=status.get("output_model"),
        error=status.get("error"),
        step=int(status.get("step") or 0),
        total_steps=status.get("total_steps"),
        latest_loss=latest.get("loss"),
        latest_eval_loss=latest.get("eval_loss"),
        recent_events=list(status.get("recent_events") or [])[-5:],
        metrics_file=f"{ws.relative(folder)}/metrics.jsonl" if (folder / "metrics.jsonl").is_file() else None,
        folder=ws.relative(folder),
    )


def _record(folder: Path, job: dict[str, Any]) -> None:
    update_status(
        folder,
        job_id=job["job_id"],
        state=job["state"],
        provider_state=job["provider_state"],
        output_model=job.get("output_model"),
        error=job.get("error"),
    )


def refresh_run(ws: Workspace, folder: Path) -> ProviderJobInfo:
    """Ask the provider for the job, its events and metrics; write status.json, events.jsonl, metrics.jsonl."""
    config = read_json(folder / "config.json")
    status = read_json(folder / "status.json")
    job_id = status.get("job_id")
    if not job_id:
        return job_info(ws, folder)
    job, events, rows = _module(str(config.get("provider"))).refresh(settings(), str(job_id))
    write_text_atomic(folder / "events.jsonl", "".join(json.dumps(e, default=str) + "\n" for e in events))
    if rows:
        write_text_atomic(folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    total = job.get("total_steps") or next((r.get("total_steps") for r in reversed(rows) if r.get("total_steps")), None)
    latest = rows[-1] if rows else status.get("latest")
    evals = [r["eval_loss"] for r in rows if r.get("eval_loss") is not None]
    finished = job["state"] in {"completed", "failed", "stopped"}
    update_status(
        folder,
        job_id=job["job_id"] or job_id,
        state=job["state"],
        provider_state=job["provider_state"],
        output_model=job.get("output_model"),
        error=job.get("error"),
        step=int(rows[-1]["step"]) if rows else int(status.get("step") or 0),
        total_steps=total or status.get("total_steps"),
        latest=latest,
        best_eval_loss=min(evals) if evals else status.get("best_eval_loss"),
        recent_events=[str(e.get("message"))[:300] for e in events[-5:]],
        trained_tokens=job.get("trained_tokens"),
        finished_at=now_iso() if finished else None,
        stop_reason="provider_error" if job["state"] == "failed" else None,
    )
    return job_info(ws, folder)


def _create_once(mod: ModuleType, cfg: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Create the job; after a lost answer or a busy provider look in the job list before trying again."""
    tries = int(cfg["max_retries"]) + 1
    last: ToolError | None = None
    for attempt in range(tries):
        try:
            return mod.create(cfg, spec)
        except ToolError as exc:
            if exc.code not in {"provider_unreachable", "provider_busy"}:
                raise
            last = exc
        time.sleep(min(float(cfg["retry_base_s"]) * 2**attempt, float(cfg["retry_max_s"])))
        found = mod.find_job(cfg, spec["key"], spec["suffix"])
        if found is not None:
            return found
    assert last is not None
    raise last


# ----------------------------------------------------------------------------- tools


@tool(effect="spend", stage="train", duration="minutes")
def launch_provider_job(req: LaunchProviderJobRequest) -> LaunchProviderJobResult:
    """Start a fine-tuning job at OpenAI (supervised or DPO) or Together (LoRA, supervised or DPO): uploads the data,
    creates the job and keeps it as runs/<id>/ with its job id, state, events and metrics; without confirm it only
    returns the plan and the cost estimate.

    Refuses an offering past its end date (OpenAI takes no new jobs from 2027-01-06). Idempotent: the
    request and data hash to a key kept in the run folder and sent with the job, and every launch looks
    for it first (run folders, then the provider's job list), so calling again after a timeout or crash
    never creates a second job. API keys come from OPENAI_API_KEY / TOGETHER_API_KEY. Poll with
    provider_job_status; for training on this machine use launch_lora."""
    ws = current()
    data_path_ = ws.input_file(req.data, what="training data")
    val_path = ws.input_file(req.validation_data, what="validation data") if req.validation_data else None
    prov, until, warnings = _offering(req)
    if req.provider == "openai" and (req.learning_rate is not None or req.lora_r is not None):
        raise ToolError(
            "unsupported_option",
            "learning_rate and lora_r are Together options",
            "OpenAI takes learning_rate_multiplier; it does not expose LoRA rank",
        )
    if req.provider == "together" and (req.learning_rate_multiplier is not None or req.seed is not None):
        raise ToolError(
            "unsupported_option", "learning_rate_multiplier and seed are OpenAI options", "Together takes learning_rate"
        )
    if req.dpo_beta is not None and req.method != "dpo":
        raise ToolError("unsupported_option", "dpo_beta needs method dpo", "drop dpo_beta or set method=dpo")
    size = data_path_.stat().st_size
    if prov.max_file_mb and size > prov.max_file_mb * 1024 * 1024:
        raise ToolError(
            "file_too_large",
            f"{req.data}: {size / 2**20:.1f} MB is over {prov.name}'s {prov.max_file_mb:g} MB limit",
            "split the data or sample it down",
        )
    examples = sum(1 for line in data_path_.read_text("utf-8", errors="replace").splitlines() if line.strip())
    if examples == 0:
        raise ToolError(
            "no_training_examples", f"{req.data} has no lines", "give a JSONL file with one example per line"
        )
    key = _key(req, sha256_file(data_path_), sha256_file(val_path) if val_path else None)
    cost, basis = _estimate(req)
    common = dict(
        provider=req.provider,
        model=req.model,
        method=req.method,
        examples=examples,
        data_bytes=size,
        idempotency_key=key,
        estimated_cost_usd=cost,
        cost_basis=basis,
        available_until=until,
        warnings=warnings[:10],
    )
    price = f"about {cost:.2f} USD" if cost is not None else "an unknown amount"
    existing = _find_run(ws, key)
    if not req.confirm:
        seen = (
            f"; run {existing.name} already holds this exact launch (calling with confirm reuses it)"
            if existing
            else ""
        )
        return LaunchProviderJobResult(
            started=False,
            reused=False,
            run_id=existing.name if existing else None,
            folder=ws.relative(existing) if existing else None,
            job=job_info(ws, existing) if existing else None,
            message=(
                f"would upload {req.data} ({examples} examples, {size:,} bytes) to {req.provider} and fine-tune "
                f"{req.model} with {req.method}; training costs {price}{seen}. "
                + say(
                    "confirm_to_start",
                    tool="launch_provider_job",
                    command="finetune provider job launch",
                    chat="start the job",
                    action="start",
                )
                + f" It sends the data to {prov.name} and bills the account."
            ),
            **common,
        )
    mod = _module(req.provider)
    cfg = settings()
    suffix = _suffix(req, key)
    folder = existing
    if folder is None:
        folder = runs_root(ws) / _new_run_id(ws, req, key)
        folder.mkdir(parents=True)
        write_json(
            folder / "config.json",
            {
                "run_id": folder.name,
                "created_at": now_iso(),
                "workspace": str(ws.root),
                "kind": KIND,
                "provider": req.provider,
                "idempotency_key": key,
                "suffix": suffix,
                "plan": {"base_model": req.model, "method": req.method},
                "request": req.model_dump(mode="json", exclude={"confirm"}),
                "data": {"path": str(data_path_), "label": ws.relative(data_path_), "sha256": sha256_file(data_path_)},
                "validation_data": {"path": str(val_path), "label": ws.relative(val_path)} if val_path else None,
                "estimated_cost_usd": cost,
            },
        )
        update_status(
            folder,
            run_id=folder.name,
            provider=req.provider,
            state="queued",
            provider_state="not_submitted",
            pid=None,
            job_id=None,
            step=0,
            total_steps=None,
            created_at=now_iso(),
            error=None,
            stop_reason=None,
        )
    status = read_json(folder / "status.json")
    reused = bool(status.get("job_id"))
    if not reused:
        found = mod.find_job(cfg, key, suffix)
        if found is not None:
            _record(folder, found)
            reused = True
        else:
            spec = req.model_dump(exclude={"confirm", "data", "validation_data"})
            spec.update(key=key, suffix=suffix)
            if not status.get("training_file"):
                status = update_status(folder, training_file=mod.upload(cfg, data_path_), provider_state="uploaded")
            if val_path and not status.get("validation_file"):
                status = update_status(folder, validation_file=mod.upload(cfg, val_path))
            spec.update(training_file=status["training_file"], validation_file=status.get("validation_file"))
            _record(folder, _create_once(mod, cfg, spec))
            update_status(folder, started_at=now_iso())
    info = job_info(ws, folder)
    how = (
        f"found the job launched earlier with key {key[:12]} ({info.job_id}); no new job created"
        if reused
        else f"created job {info.job_id}"
    )
    if reused and info.state in {"failed", "stopped"}:
        how += (
            f" (it {info.state}: {info.error or 'see provider_job_status'}; "
            "to try again on purpose give a new run_name)"
        )
    return LaunchProviderJobResult(
        started=True,
        reused=reused,
        run_id=folder.name,
        folder=ws.relative(folder),
        job=info,
        message=f"{req.provider}: {how} for {req.model} ({req.method}), state {info.state}; training costs {price}. "
        f"Poll with provider_job_status (finetune job status {folder.name}).",
        **common,
    )


@tool(effect="write", stage="train")
def provider_job_status(req: ProviderJobStatusRequest) -> ProviderJobStatusResult:
    """Refresh and report fine-tuning jobs started with launch_provider_job: state, provider status, output model id,
    error, step, latest loss and recent events; writes the events and per-step metrics (OpenAI's result file once
    done) into runs/<id>/.

    Without a run id it refreshes every provider run that has not ended. refresh=false reads the folder only
    (no network)."""
    ws = current()
    if req.run_id:
        folder = run_dir(ws, req.run_id)
        if read_json(folder / "config.json").get("kind") != KIND:
            raise ToolError(
                "not_a_provider_run", f"run {req.run_id} is a local run", say("local_run_status", run_id=req.run_id)
            )
        folders = [folder]
    else:
        folders = [p.parent for p in sorted(runs_root(ws).glob("*/config.json")) if read_json(p).get("kind") == KIND]
    jobs = []
    for folder in folders[-50:]:
        ended = read_json(folder / "status.json").get("state") in {"completed", "failed", "stopped"}
        fetch = req.refresh and (req.run_id is not None or not ended)
        jobs.append(refresh_run(ws, folder) if fetch else job_info(ws, folder))
    return ProviderJobStatusResult(jobs=jobs)


__all__ = [
    "LaunchProviderJobRequest",
    "LaunchProviderJobResult",
    "ProviderJobInfo",
    "ProviderJobStatusRequest",
    "ProviderJobStatusResult",
    "launch_provider_job",
    "provider_job_status",
    "refresh_run",
    "settings",
]
