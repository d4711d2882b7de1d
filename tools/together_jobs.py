"""Together fine-tuning jobs over its REST API with httpx: upload, find, create (LoRA), refresh.

Shape (docs.together.ai/reference): ``POST /files/upload`` (multipart: file, file_name, purpose=fine-tune),
``POST /fine-tunes``, ``GET /fine-tunes``, ``GET /fine-tunes/{id}``, ``GET /fine-tunes/{id}/events``, all
with ``Authorization: Bearer $TOGETHER_API_KEY``. 408/409/429/5xx answers and dropped connections are
retried with exponential back-off (Retry-After wins), the counts from ``reference/data/provider_jobs.yaml``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tools.errors import ToolError

STATES = {"pending": "queued", "queued": "queued", "running": "running", "compressing": "running",
          "uploading": "running", "cancel_requested": "running", "cancelled": "stopped", "error": "failed",
          "user_error": "failed", "completed": "completed"}
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _key() -> str:
    key = os.environ.get("TOGETHER_API_KEY", "").strip()
    if not key:
        raise ToolError("missing_api_key", "TOGETHER_API_KEY is not set",
                        "export TOGETHER_API_KEY=... in the shell that runs finetune (it is never written to disk)")
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
    return min(float(cfg["retry_base_s"]) * 2 ** attempt, float(cfg["retry_max_s"]))


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
                    raise ToolError("provider_error", f"Together {what}: the answer is not JSON",
                                    "check TOGETHER_BASE_URL") from None
            last = f"HTTP {response.status_code}: {_message(response)}"
            if response.status_code not in RETRY_STATUS:
                raise ToolError("provider_error", f"Together {what} failed: {last}",
                                "check the key, the model id and the request; the run folder keeps the idempotency "
                                "key, so calling again is safe")
        if attempt + 1 < tries:
            time.sleep(_delay(cfg, attempt, response))
    code = "provider_unreachable" if last.startswith("connection") else "provider_busy"
    raise ToolError(code, f"Together {what} failed after {tries} tries: {last}",
                    "call again later; no second job is created")


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


def normal(job: dict[str, Any]) -> dict[str, Any]:
    status = str(job.get("status") or "pending")
    error = (job.get("error") or job.get("message")) if STATES.get(status) == "failed" else None
    return {"job_id": job.get("id"), "provider_state": status, "state": STATES.get(status, "running"),
            "output_model": job.get("output_name") or job.get("model_output_name"), "error": error,
            "trained_tokens": job.get("token_count"), "result_files": [], "metadata": {},
            "suffix": job.get("suffix"), "total_steps": job.get("total_steps")}


def find_job(cfg: dict[str, Any], key: str, suffix: str) -> dict[str, Any] | None:
    """The job launched earlier with this key: its suffix, or the key in its output model name."""
    body = request(cfg, "GET", "/fine-tunes", "listing jobs")
    jobs = body.get("data", []) if isinstance(body, dict) else body
    for job in list(jobs or [])[: int(cfg["job_list_limit"])]:
        if not isinstance(job, dict):
            continue
        output = str(job.get("output_name") or job.get("model_output_name") or "")
        if job.get("suffix") == suffix or key[:12] in output:
            return normal(job)
    return None


def upload(cfg: dict[str, Any], path: Path) -> str:
    content = path.read_bytes()
    body = request(cfg, "POST", "/files/upload", f"upload of {path.name}",
                   files={"file": (path.name, content, "application/jsonl")},
                   data={"file_name": path.name, "purpose": "fine-tune", "file_type": "jsonl"})
    file_id = body.get("id") if isinstance(body, dict) else None
    if not file_id:
        raise ToolError("provider_error", f"Together upload of {path.name}: no file id in the answer", "call again")
    return str(file_id)


def create(cfg: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A LoRA job (training_type Lora, all-linear) with method sft or dpo; one attempt (see provider_jobs)."""
    r = int(spec.get("lora_r") or cfg["together_default_lora_r"])
    payload: dict[str, Any] = {
        "model": spec["model"], "training_file": spec["training_file"], "suffix": spec["suffix"],
        "training_type": {"type": "Lora", "lora_r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0,
                          "lora_trainable_modules": "all-linear"},
        "training_method": {"method": "dpo", "dpo_beta": spec["dpo_beta"]} if spec["method"] == "dpo" and
        spec.get("dpo_beta") is not None else {"method": "dpo" if spec["method"] == "dpo" else "sft"},
    }
    for ours, theirs in (("epochs", "n_epochs"), ("learning_rate", "learning_rate"), ("batch_size", "batch_size"),
                         ("validation_file", "validation_file")):
        if spec.get(ours) is not None:
            payload[theirs] = spec[ours]
    if spec.get("validation_file"):
        payload["n_evals"] = int(spec.get("n_evals") or 1)
    body = request(cfg, "POST", "/fine-tunes", "job creation", retry=False, json=payload)
    return normal(body)


def refresh(cfg: dict[str, Any], job_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(job, events oldest first, metric rows from events that carry a step and loss)."""
    job = normal(request(cfg, "GET", f"/fine-tunes/{job_id}", "job status"))
    body = request(cfg, "GET", f"/fine-tunes/{job_id}/events", "job events")
    raw = body.get("data", []) if isinstance(body, dict) else body
    events, rows = [], []
    for ev in list(raw or [])[-int(cfg["events_limit"]):]:
        if not isinstance(ev, dict):
            continue
        events.append({"created_at": ev.get("created_at"), "level": ev.get("level"), "type": ev.get("type"),
                       "message": ev.get("message")})
        if ev.get("step") is not None and ev.get("loss") is not None:
            rows.append({"step": int(ev["step"]), "loss": float(ev["loss"]),
                         "eval_loss": float(ev["eval_loss"]) if ev.get("eval_loss") is not None else None})
    if job["state"] == "failed" and not job["error"]:
        errors = [e["message"] for e in events if e.get("level") == "error" and e.get("message")]
        job["error"] = errors[-1] if errors else "the job failed without an error message"
    return job, events, rows
