"""Together fine-tuning jobs over its REST API with httpx: upload, find, create (LoRA), refresh.

Every path, method and field below was checked on 2026-11-24 against stored copies of (no dates are
shown for the stored files; the commit ids are):

* the OpenAPI spec the docs and SDKs are generated from, github.com/togethercomputer/openapi
  ``openapi.yaml`` (commit 6ed1b93e): ``POST /files/upload``, ``POST|GET /fine-tunes``,
  ``GET /fine-tunes/{id}``, ``GET /fine-tunes/{id}/events``, ``POST /fine-tunes/{id}/cancel``; and
  docs.together.ai/reference/upload-file, /reference/post-fine-tunes, /reference/get-fine-tunes-id-metrics,
  /docs/fine-tuning-training-metrics (``GET /fine-tunes/{id}/metrics``, added by openapi PR #253, April 2026);
* the Stainless SDKs generated from that spec: togethercomputer/together-py ``src/together/types/``
  ``finetune_response.py``, ``fine_tuning_list_response.py``, ``fine_tuning_list_events_response.py``,
  ``finetune_event.py``, ``file_response.py``, ``fine_tuning_list_metrics_response.py``,
  ``src/together/resources/fine_tuning.py``; togethercomputer/together-typescript
  ``src/resources/fine-tuning.ts`` (``FineTuningCreateParams``);
* the hand-written request builder and models: together-py ``src/together/lib/resources/fine_tuning.py``
  (``create_finetune_request``), ``src/together/lib/types/fine_tuning.py`` (``user_error`` status, event levels
  ``Info``/``Warning``/``Error``, upper-case event types), ``src/together/lib/resources/files.py``;
  togethercomputer/together-python ``src/together/types/finetune.py`` (the v1 SDK).

What the wire looks like (``Authorization: Bearer $TOGETHER_API_KEY`` on every call):

* ``POST /files/upload`` multipart: ``file`` (the bytes), ``file_name``, ``purpose=fine-tune``, ``file_type=jsonl``
  -> FileResponse ``{id, object: "file", created_at, filename, bytes, purpose, Processed, FileType, LineCount}``.
  (The SDKs instead POST ``/files`` for a signed URL, PUT the bytes, then POST ``/files/{id}/preprocess``;
  the documented one-shot endpoint is used here.)
* ``POST /fine-tunes`` JSON: ``training_file``, ``model``, ``n_epochs``, ``learning_rate``, ``batch_size``
  (int or "max"), ``suffix`` (up to 40 characters per the SDK and CLI docs), ``validation_file``, ``n_evals``,
  ``training_type {type: "Lora", lora_r, lora_alpha, lora_dropout, lora_trainable_modules}``,
  ``training_method {method: "sft", train_on_inputs}`` or ``{method: "dpo", dpo_beta}`` (top-level
  ``train_on_inputs`` and the old top-level ``lora``/``lora_r`` fields are deprecated)
  -> FinetuneResponseTruncated ``{id, status, created_at, updated_at, model, model_output_name, suffix, ...}``.
* ``GET /fine-tunes`` -> ``{data: [FinetuneResponseTruncated]}`` (the only place ``suffix`` comes back; the
  order is not documented, so it is sorted newest first here). Together has no idempotency header: the
  key rides in ``suffix`` (and so in ``model_output_name``) and is looked for in this list.
* ``GET /fine-tunes/{id}`` -> FinetuneResponse: ``status`` (pending, queued, running, compressing, uploading,
  cancel_requested, cancelled, error, completed; the SDK adds user_error), ``model_output_name``,
  ``token_count``; there is no error field: why a job failed is in its events.
* ``GET /fine-tunes/{id}/events`` -> ``{data: [{object: "fine-tune-event", created_at, level, message, type,
  step, total_steps, ...}]}``; no loss in events (messages read like "Epoch completed, at step 24").
* ``GET /fine-tunes/{id}/metrics`` -> ``{metrics: [{"train/global_step", "train/loss", ...}, {"train/global_step",
  "eval/loss", ...}]}``: training and eval rows are separate objects.

Not verified: the exact eval key (``eval/loss`` is read; the page shows only ``eval/*``), whether the
server enforces the 40-character suffix, and event levels/types in the case the server really sends (both
cases are accepted). 408/409/429/5xx answers and dropped connections are retried with exponential back-off
(Retry-After wins), the counts from ``reference/data/provider_jobs.yaml``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tools.core.errors import ToolError

STATES = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "cancelled": "stopped",
    "error": "failed",
    "user_error": "failed",
    "completed": "completed",
}
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _key() -> str:
    key = os.environ.get("TOGETHER_API_KEY", "").strip()
    if not key:
        raise ToolError(
            "missing_api_key",
            "TOGETHER_API_KEY is not set",
            "export TOGETHER_API_KEY=... in the shell that runs finetune (it is never written to disk)",
        )
    return key


def _base(cfg: dict[str, Any]) -> str:
    return (os.environ.get("TOGETHER_BASE_URL", "").strip() or str(cfg["together_base_url"])).rstrip("/")


def _delay(cfg: dict[str, Any], attempt: int, response: Any) -> float:
    if response is not None:
        raw = response.headers.get("retry-after")
        try:
            if raw is not None:
                return min(float(raw), float(cfg["retry_max_s"]))
        except ValueError:
            pass
    return min(float(cfg["retry_base_s"]) * 2**attempt, float(cfg["retry_max_s"]))


def request(cfg: dict[str, Any], method: str, path: str, what: str, *, retry: bool = True, **kwargs: Any) -> Any:
    """One REST call with retries; the decoded JSON body, or a ToolError with the provider's message."""
    import httpx

    headers = {"Authorization": f"Bearer {_key()}", "Accept": "application/json"}
    tries = int(cfg["max_retries"]) + 1 if retry else 1
    last = ""
    for attempt in range(tries):
        response = None
        try:
            with httpx.Client(timeout=float(cfg["request_timeout_s"])) as http:
                response = http.request(method, _base(cfg) + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            last = f"connection failed: {type(exc).__name__}: {exc}"
        else:
            if response.status_code < 400:
                try:
                    return response.json()
                except ValueError:
                    raise ToolError(
                        "provider_error", f"Together {what}: the answer is not JSON", "check TOGETHER_BASE_URL"
                    ) from None
            last = f"HTTP {response.status_code}: {_message(response)}"
            if response.status_code not in RETRY_STATUS:
                raise ToolError(
                    "provider_error",
                    f"Together {what} failed: {last}",
                    "check the key, the model id and the request; the run folder keeps the idempotency "
                    "key, so calling again is safe",
                )
        if attempt + 1 < tries:
            time.sleep(_delay(cfg, attempt, response))
    code = "provider_unreachable" if last.startswith("connection") else "provider_busy"
    raise ToolError(
        code, f"Together {what} failed after {tries} tries: {last}", "call again later; no second job is created"
    )


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    return str(body)[:300]


ERROR_LEVELS = {"error", "legacy_ierror"}  # levels are "Error" (SDK enum) or "error" (spec): compared lower-cased
ERROR_TYPES = {"job_error", "job_user_error"}  # event types are upper case from the SDK enum, lower case in the spec


def fit_suffix(suffix: str, limit: int) -> str:
    """The suffix Together gets: at most ``limit`` characters, the key tail (after the last '-') kept whole."""
    if len(suffix) <= limit:
        return suffix
    base, sep, tail = suffix.rpartition("-")
    if not sep or len(tail) + 2 > limit:
        return suffix[-limit:].lstrip("-")
    return (base[: limit - len(tail) - 1].rstrip("-") or "ft") + "-" + tail


def _output_name(job: dict[str, Any]) -> str | None:
    # The wire name is model_output_name; an older spec revision called it output_name.
    return job.get("model_output_name") or job.get("output_name")


def normal(job: dict[str, Any]) -> dict[str, Any]:
    status = str(job.get("status") or "pending")
    # FinetuneResponse has no error field (refresh() takes the reason from the events); kept in case one appears.
    error = (job.get("error") or job.get("message")) if STATES.get(status) == "failed" else None
    if isinstance(error, dict):
        error = error.get("message") or str(error)
    return {
        "job_id": job.get("id"),
        "provider_state": status,
        "state": STATES.get(status, "running"),
        "output_model": _output_name(job),
        "error": error,
        "trained_tokens": job.get("token_count"),
        "result_files": [],
        "metadata": {},
        "suffix": job.get("suffix"),
        "total_steps": job.get("total_steps"),
    }


def find_job(cfg: dict[str, Any], key: str, suffix: str) -> dict[str, Any] | None:
    """The job launched earlier with this key: its suffix (in the list answer), or the key in its output model name."""
    body = request(cfg, "GET", "/fine-tunes", "listing jobs")
    jobs = body.get("data", []) if isinstance(body, dict) else body
    jobs = [j for j in list(jobs or []) if isinstance(j, dict)]
    # The list's order is not documented (the SDK CLI sorts it by created_at): newest first, then the limit.
    jobs.sort(key=lambda j: str(j.get("created_at") or ""), reverse=True)
    want, tag = fit_suffix(suffix, int(cfg["together_suffix_max_chars"])).lower(), key[:12].lower()
    for job in jobs[: int(cfg["job_list_limit"])]:
        output = str(_output_name(job) or "").lower()
        if str(job.get("suffix") or "").lower() == want or tag in output:
            return normal(job)
    return None


def upload(cfg: dict[str, Any], path: Path) -> str:
    """POST /files/upload (multipart: file, file_name, purpose, file_type); the FileResponse id."""
    content = path.read_bytes()
    body = request(
        cfg,
        "POST",
        "/files/upload",
        f"upload of {path.name}",
        files={"file": (path.name, content, "application/jsonl")},
        data={"file_name": path.name, "purpose": "fine-tune", "file_type": "jsonl"},
    )
    file_id = body.get("id") if isinstance(body, dict) else None
    if not file_id:
        raise ToolError("provider_error", f"Together upload of {path.name}: no file id in the answer", "call again")
    return str(file_id)


def create(cfg: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A LoRA job (training_type Lora, all-linear) with method sft or dpo; one attempt (see provider_jobs)."""
    r = int(spec.get("lora_r") or cfg["together_default_lora_r"])
    # train_on_inputs lives in training_method now (the top-level field is deprecated); "auto" is the SDK default.
    method: dict[str, Any] = {"method": "sft", "train_on_inputs": "auto"}
    if spec["method"] == "dpo":
        method = {"method": "dpo"}
    if spec["method"] == "dpo" and spec.get("dpo_beta") is not None:
        method["dpo_beta"] = spec["dpo_beta"]
    payload: dict[str, Any] = {
        "model": spec["model"],
        "training_file": spec["training_file"],
        "suffix": fit_suffix(spec["suffix"], int(cfg["together_suffix_max_chars"])),
        "training_type": {
            "type": "Lora",
            "lora_r": r,
            "lora_alpha": 2 * r,
            "lora_dropout": 0.0,
            "lora_trainable_modules": "all-linear",
        },
        "training_method": method,
    }
    for ours, theirs in (
        ("epochs", "n_epochs"),
        ("learning_rate", "learning_rate"),
        ("batch_size", "batch_size"),
        ("validation_file", "validation_file"),
    ):
        if spec.get(ours) is not None:
            payload[theirs] = spec[ours]
    if spec.get("validation_file"):
        payload["n_evals"] = int(spec.get("n_evals") or 1)
    body = request(cfg, "POST", "/fine-tunes", "job creation", retry=False, json=payload)
    return normal(body)


def _num(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def metric_rows(metrics: list[Any]) -> list[dict[str, Any]]:
    """GET /fine-tunes/{id}/metrics rows -> one row per step: step, loss (train/loss), eval_loss (eval/loss)."""
    by_step: dict[int, dict[str, Any]] = {}
    for m in metrics:
        if not isinstance(m, dict):
            continue
        step = _num(m.get("train/global_step", m.get("eval/global_step", m.get("global_step"))))
        loss, eval_loss = _num(m.get("train/loss")), _num(m.get("eval/loss"))
        if step is None or (loss is None and eval_loss is None):
            continue
        row = by_step.setdefault(int(step), {"step": int(step), "loss": None, "eval_loss": None})
        if loss is not None:
            row["loss"] = loss
        if eval_loss is not None:
            row["eval_loss"] = eval_loss
    return [by_step[s] for s in sorted(by_step)]


def _is_error(ev: dict[str, Any]) -> bool:
    return str(ev.get("level") or "").lower() in ERROR_LEVELS or str(ev.get("type") or "").lower() in ERROR_TYPES


def refresh(cfg: dict[str, Any], job_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(job, events oldest first, metric rows from GET /fine-tunes/{id}/metrics)."""
    job = normal(request(cfg, "GET", f"/fine-tunes/{job_id}", "job status"))
    body = request(cfg, "GET", f"/fine-tunes/{job_id}/events", "job events")
    raw = body.get("data", []) if isinstance(body, dict) else body
    events = []
    for ev in list(raw or [])[-int(cfg["events_limit"]) :]:
        if not isinstance(ev, dict):
            continue
        events.append(
            {
                "created_at": ev.get("created_at"),
                "level": ev.get("level"),
                "type": ev.get("type"),
                "message": ev.get("message"),
                "step": ev.get("step"),
                "total_steps": ev.get("total_steps"),
            }
        )
    if not job["total_steps"]:
        job["total_steps"] = next((e["total_steps"] for e in reversed(events) if e.get("total_steps")), None)
    try:
        found = request(cfg, "GET", f"/fine-tunes/{job_id}/metrics", "job metrics")
    except ToolError:
        found = {}  # metrics are a bonus: the job's state above is what a refresh must not lose
    rows = metric_rows(found.get("metrics") or [] if isinstance(found, dict) else [])
    if job["state"] == "failed" and not job["error"]:
        errors = [e["message"] for e in events if _is_error(e) and e.get("message")]
        job["error"] = errors[-1] if errors else "the job failed without an error message"
    return job, events, rows
