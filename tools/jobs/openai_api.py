"""OpenAI fine-tuning jobs through the official ``openai`` SDK: upload, find, create, refresh.

Every function takes the settings of ``reference/data/provider_jobs.yaml`` (see
:func:`tools.jobs.provider_jobs.settings`) and returns plain dicts in the shape ``tools.jobs.provider_jobs`` keeps
in ``status.json``; SDK errors become ToolErrors. The key comes from ``OPENAI_API_KEY`` only.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError

KEY_FIELD = "finetune_skill_key"
STATES = {
    "validating_files": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "stopped",
}
RETRY_STATUS = {408, 409, 429}


def client(cfg: dict[str, Any]) -> Any:
    """An SDK client with the retry and timeout settings; ToolError without OPENAI_API_KEY."""
    import openai

    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise ToolError(
            "missing_api_key",
            "OPENAI_API_KEY is not set",
            "export OPENAI_API_KEY=... in the shell that runs finetune (it is never written to disk)",
        )
    base = os.environ.get("OPENAI_BASE_URL", "").strip() or str(cfg["openai_base_url"])
    return openai.OpenAI(
        api_key=key, base_url=base, max_retries=int(cfg["max_retries"]), timeout=float(cfg["request_timeout_s"])
    )


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    import openai

    try:
        return fn(*args, **kwargs)
    except openai.APIStatusError as exc:
        message = error_message(exc)
        if exc.status_code in RETRY_STATUS or exc.status_code >= 500:
            raise ToolError(
                "provider_busy",
                f"OpenAI {what} failed: HTTP {exc.status_code}: {message}",
                "the provider is overloaded or rate-limiting; call again later (no second job is created)",
            ) from None
        raise ToolError(
            "provider_error",
            f"OpenAI {what} failed: HTTP {exc.status_code}: {message}",
            "check the key, the organisation's fine-tuning access and the request; the run folder keeps "
            "the idempotency key, so calling again is safe",
        ) from None
    except openai.APIConnectionError as exc:
        raise ToolError(
            "provider_unreachable",
            f"OpenAI {what} failed after retries: {exc}",
            "check the network (or OPENAI_BASE_URL) and call again; no second job is created",
        ) from None


def error_message(exc: Any) -> str:
    """The provider's own error text from an SDK exception (its JSON body's error.message), at most 300 characters."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def normal(job: Any) -> dict[str, Any]:
    """The fields we keep of an SDK FineTuningJob."""
    data = job.model_dump() if hasattr(job, "model_dump") else dict(job)
    err = data.get("error") or {}
    error = None
    if isinstance(err, dict) and (err.get("message") or err.get("code")):
        error = f"{err.get('code') or 'error'}: {err.get('message') or ''}".strip()
        if err.get("param"):
            error += f" (param {err['param']})"
    return {
        "job_id": data.get("id"),
        "provider_state": data.get("status"),
        "state": STATES.get(str(data.get("status")), "running"),
        "output_model": data.get("fine_tuned_model"),
        "error": error,
        "trained_tokens": data.get("trained_tokens"),
        "result_files": list(data.get("result_files") or []),
        "metadata": data.get("metadata") or {},
        "suffix": data.get("user_provided_suffix"),
    }


def find_job(cfg: dict[str, Any], key: str, suffix: str) -> dict[str, Any] | None:
    """The job launched earlier with this idempotency key (metadata or suffix), if the provider lists one."""
    c = client(cfg)
    page = _call("listing jobs", c.fine_tuning.jobs.list, limit=int(cfg["job_list_limit"]))
    for job in page.data:
        n = normal(job)
        if n["metadata"].get(KEY_FIELD) == key or (n["suffix"] and n["suffix"] == suffix):
            return n
    return None


def upload(cfg: dict[str, Any], path: Path) -> str:
    """Upload a JSONL file with purpose fine-tune; its file id. Bytes in memory, so a retry re-sends them whole."""
    c = client(cfg)
    content = path.read_bytes()
    obj = _call(
        f"upload of {path.name}", c.files.create, file=(path.name, content, "application/jsonl"), purpose="fine-tune"
    )
    return str(obj.id)


def create(cfg: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Create the job (one attempt): method supervised or dpo with its hyperparameters, the key in metadata
    and suffix."""
    # One attempt only (the SDK would blindly re-POST): provider_jobs looks the job up before trying again.
    c = client(cfg).with_options(max_retries=0)
    hyper: dict[str, Any] = {}
    for ours, theirs in (
        ("epochs", "n_epochs"),
        ("batch_size", "batch_size"),
        ("learning_rate_multiplier", "learning_rate_multiplier"),
    ):
        if spec.get(ours) is not None:
            hyper[theirs] = spec[ours]
    if spec["method"] == "dpo" and spec.get("dpo_beta") is not None:
        hyper["beta"] = spec["dpo_beta"]
    method: dict[str, Any] = {"type": spec["method"]}
    if hyper:
        method[spec["method"]] = {"hyperparameters": hyper}
    kwargs: dict[str, Any] = {
        "model": spec["model"],
        "training_file": spec["training_file"],
        "method": method,
        "suffix": spec["suffix"],
        "metadata": {KEY_FIELD: spec["key"]},
    }
    if spec.get("validation_file"):
        kwargs["validation_file"] = spec["validation_file"]
    if spec.get("seed") is not None:
        kwargs["seed"] = spec["seed"]
    # The SDK adds an Idempotency-Key header only on retries of its own; send ours so a proxy can dedupe too.
    job = _call(
        "job creation",
        c.fine_tuning.jobs.create,
        **kwargs,
        extra_headers={"Idempotency-Key": f"finetune-{spec['key']}"},
    )
    return normal(job)


def refresh(cfg: dict[str, Any], job_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(job, events oldest first, metric rows): from the result file once the job succeeded, else from metric events."""
    c = client(cfg)
    job = normal(_call("job status", c.fine_tuning.jobs.retrieve, job_id))
    page = _call("job events", c.fine_tuning.jobs.list_events, job_id, limit=int(cfg["events_limit"]))
    events = []
    metric_rows: dict[int, dict[str, Any]] = {}
    for ev in reversed(page.data):  # the API lists newest first
        data = ev.model_dump()
        events.append(
            {
                "created_at": data.get("created_at"),
                "level": data.get("level"),
                "type": data.get("type"),
                "message": data.get("message"),
            }
        )
        payload = data.get("data") or {}
        if data.get("type") == "metrics" and isinstance(payload, dict) and payload.get("step") is not None:
            metric_rows[int(payload["step"])] = _row(payload)
    rows = [metric_rows[s] for s in sorted(metric_rows)]
    if job["state"] == "completed" and job["result_files"]:
        text = _call("result file download", c.files.content, job["result_files"][0]).text
        parsed = parse_result_csv(text)
        if parsed:
            rows = parsed
    if job["state"] == "failed" and not job["error"]:
        errors = [e["message"] for e in events if e.get("level") == "error" and e.get("message")]
        job["error"] = errors[-1] if errors else "the job failed without an error message"
    return job, events, rows


def _num(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _row(p: dict[str, Any]) -> dict[str, Any]:
    row = {
        "step": int(float(p["step"])),
        "loss": _num(p.get("train_loss")),
        "eval_loss": _num(p.get("valid_loss") if p.get("valid_loss") not in (None, "") else p.get("full_valid_loss")),
        "train_accuracy": _num(p.get("train_accuracy") or p.get("train_mean_token_accuracy")),
        "eval_accuracy": _num(p.get("valid_mean_token_accuracy")),
    }
    if p.get("total_steps") is not None:
        row["total_steps"] = int(float(p["total_steps"]))
    return row


def parse_result_csv(text: str) -> list[dict[str, Any]]:
    """OpenAI's step_metrics CSV (step, train_loss, train_accuracy, valid_loss, valid_mean_token_accuracy)."""
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        if raw.get("step") in (None, ""):
            continue
        try:
            rows.append(_row(raw))
        except ValueError:
            continue
    return rows
