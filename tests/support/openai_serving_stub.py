"""The serving side of the OpenAI stub (mixed into :class:`tests.support.provider_stub.ProviderStub`): the
organisation's models, chat completions and the Batch API, in OpenAI's wire shapes.

Shapes follow the openai-python 3.60 types (``types/model.py`` with ``shutdown_date``, ``types/batch.py``,
``types/chat/chat_completion.py``) and the Batch guide's output lines (``{"id": "batch_req_...", "custom_id",
"response": {"status_code", "request_id", "body"}, "error"}``, written in completion order, not input order: this
stub writes them in reverse). A fine-tune is seeded with :meth:`OpenAIServing.add_finetune`: a succeeded job, its
training file, and a model that answers a training prompt with that example's answer (a fine-tune that learnt its
data) and anything else with a fixed sentence. Token counts are words, not tokens (the shapes are what is tested).
"""

from __future__ import annotations

import json
import re
from typing import Any

BATCH_FLOW = ["validating", "in_progress", "finalizing", "completed"]
UNKNOWN_REPLY = "I have no answer for that."
STUB_ORG = "org-stub"


def _words(text: str) -> int:
    return len(text.split())


def _last_user(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else json.dumps(content)


class OpenAIServing:
    """Models, chat completions and batches; the host class provides ``files``, ``openai_jobs`` and ``_id``."""

    files: dict[str, bytes]
    openai_jobs: dict[str, dict[str, Any]]

    def _id(self, prefix: str) -> str:  # provided by the host class
        raise NotImplementedError

    def _init_serving(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, dict[str, str]] = {}  # model -> last user message -> answer
        self.refused: set[str] = set()  # user messages the API answers with HTTP 400
        self.chat_bodies: list[dict[str, Any]] = []  # every chat completion asked for, directly or in a batch
        self.batches: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ seeding

    def add_model(self, model_id: str, owned_by: str = "system", shutdown_date: str | None = None) -> None:
        self.models[model_id] = {
            "id": model_id,
            "object": "model",
            "created": 1721172741,
            "owned_by": owned_by,
            "shutdown_date": shutdown_date,
        }

    def add_finetune(
        self,
        base: str,
        suffix: str,
        training: bytes,
        *,
        validation: bytes | None = None,
        n_epochs: int = 3,
        created_at: int = 1735689600,
        shutdown_date: str | None = None,
    ) -> str:
        """A succeeded job at the organisation with its files, and the model it made; returns the model id."""
        train_id = self._id("file-")
        self.files[train_id] = training
        val_id = None
        if validation is not None:
            val_id = self._id("file-")
            self.files[val_id] = validation
        job_id = self._id("ftjob-")
        model = f"ft:{base}:{STUB_ORG}:{suffix}:{job_id[-4:]}"
        hyper = {"n_epochs": n_epochs, "batch_size": 1, "learning_rate_multiplier": 1.8}
        self.openai_jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": created_at,
            "error": None,
            "fine_tuned_model": model,
            "finished_at": created_at + 900,
            "hyperparameters": hyper,
            "model": base,
            "organization_id": STUB_ORG,
            "result_files": [],
            "seed": 42,
            "status": "succeeded",
            "trained_tokens": _words(training.decode("utf-8", errors="replace")) * n_epochs,
            "training_file": train_id,
            "validation_file": val_id,
            "metadata": None,
            "user_provided_suffix": suffix,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
            "_step": 0,
            "_events": [],
            "_fail": None,
        }
        self.add_model(model, owned_by=STUB_ORG, shutdown_date=shutdown_date)
        answers: dict[str, str] = {}
        for raw in training.decode("utf-8").splitlines():
            if raw.strip():
                msgs = json.loads(raw).get("messages") or []
                replies = [m for m in msgs if m.get("role") == "assistant" and isinstance(m.get("content"), str)]
                if replies:
                    answers[_last_user(msgs)] = replies[-1]["content"]
        self.replies[model] = answers
        return model

    # ------------------------------------------------------------------ models and chat

    def _models_list(self) -> tuple[int, Any, str]:
        return 200, {"object": "list", "data": list(self.models.values())}, "application/json"

    def _model_get(self, model_id: str) -> tuple[int, Any, str]:
        if model_id not in self.models:
            return self._no_model(model_id)
        return 200, self.models[model_id], "application/json"

    @staticmethod
    def _no_model(model_id: str) -> tuple[int, Any, str]:
        message = f"The model `{model_id}` does not exist or you do not have access to it."
        body = {
            "error": {"message": message, "type": "invalid_request_error", "param": None, "code": "model_not_found"}
        }
        return 404, body, "application/json"

    def _complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        model = str(body.get("model"))
        self.chat_bodies.append(body)
        if model not in self.models:
            return self._no_model(model)[:2]
        messages = body.get("messages") or []
        asked = _last_user(messages)
        if asked in self.refused:
            error = {"message": "Invalid prompt: flagged by the stub", "type": "invalid_request_error", "code": None}
            return 400, {"error": {**error, "param": "messages"}}
        text = self.replies.get(model, {}).get(asked, UNKNOWN_REPLY)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if limit is not None and _words(text) > int(limit):
            text, finish = " ".join(text.split()[: int(limit)]), "length"
        prompt = sum(_words(str(m.get("content") or "")) + 3 for m in messages) + 3
        completion = {
            "id": self._id("chatcmpl-"),
            "object": "chat.completion",
            "created": 1764806400,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": _words(text),
                "total_tokens": prompt + _words(text),
            },
            "service_tier": "default",
            "system_fingerprint": "fp_stub",
        }
        return 200, completion

    def _chat(self, js: dict[str, Any] | None) -> tuple[int, Any, str]:
        status, payload = self._complete(js or {})
        return status, payload, "application/json"

    # ------------------------------------------------------------------ batches

    def _batch_create(self, js: dict[str, Any] | None) -> tuple[int, Any, str]:
        req = js or {}
        if req.get("input_file_id") not in self.files:
            return (
                400,
                {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}},
                "application/json",
            )
        if req.get("completion_window") != "24h" or req.get("endpoint") != "/v1/chat/completions":
            return (
                400,
                {"error": {"message": "bad endpoint or window", "type": "invalid_request_error"}},
                "application/json",
            )
        lines = [raw for raw in self.files[req["input_file_id"]].decode("utf-8").splitlines() if raw.strip()]
        batch = {
            "id": self._id("batch_"),
            "object": "batch",
            "endpoint": req["endpoint"],
            "errors": None,
            "input_file_id": req["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": 1764806400,
            "in_progress_at": None,
            "expires_at": 1764892800,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": req.get("metadata"),
            "_step": 0,
        }
        self.batches[batch["id"]] = batch
        return 200, self._public(batch), "application/json"

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _batch_list(self) -> tuple[int, Any, str]:
        data = [self._public(b) for b in sorted(self.batches.values(), key=lambda b: b["id"], reverse=True)]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return (
            200,
            {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False},
            "application/json",
        )

    def _batch_get(self, batch_id: str) -> tuple[int, Any, str]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, {"error": {"message": "No batch found", "type": "invalid_request_error"}}, "application/json"
        if batch["status"] in BATCH_FLOW[:-1]:
            batch["_step"] += 1
            batch["status"] = BATCH_FLOW[min(batch["_step"], len(BATCH_FLOW) - 1)]
            if batch["status"] == "completed":
                self._run_batch(batch)
        return 200, self._public(batch), "application/json"

    def _run_batch(self, batch: dict[str, Any]) -> None:
        done: list[str] = []
        failed: list[str] = []
        for raw in self.files[batch["input_file_id"]].decode("utf-8").splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            status, payload = self._complete(line.get("body") or {})
            out = {
                "id": self._id("batch_req_"),
                "custom_id": line.get("custom_id"),
                "response": {"status_code": status, "request_id": self._id("req_"), "body": payload},
                "error": None,
            }
            (done if status == 200 else failed).append(json.dumps(out))
        batch["request_counts"] = {"total": len(done) + len(failed), "completed": len(done), "failed": len(failed)}
        if done:
            batch["output_file_id"] = self._id("file-")
            self.files[batch["output_file_id"]] = ("\n".join(reversed(done)) + "\n").encode()
        if failed:
            batch["error_file_id"] = self._id("file-")
            self.files[batch["error_file_id"]] = ("\n".join(failed) + "\n").encode()
        batch["completed_at"] = 1764810000

    def _batches(self, method: str, js: dict[str, Any] | None) -> tuple[int, Any, str]:
        return self._batch_create(js) if method == "POST" else self._batch_list()


def jobs_page(jobs: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    """One page of the fine-tuning job list (newest first), cut by ``limit`` after the job ``after``."""
    limit = int((query.get("limit") or ["20"])[0])
    after = (query.get("after") or [None])[0]
    start = next((i + 1 for i, j in enumerate(jobs) if j["id"] == after), 0) if after else 0
    page = jobs[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(jobs)}


def multipart_field(body: bytes, content_type: str, name: str) -> bytes | None:
    """One field of a multipart/form-data body."""
    boundary = re.search(r"boundary=([^;]+)", content_type)
    if not boundary:
        return None
    for part in body.split(b"--" + boundary.group(1).strip('"').encode()):
        head, _, value = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="([^"]+)"', head)
        if found and found.group(1).decode() == name:
            return value.rsplit(b"\r\n", 1)[0]
    return None


__all__ = ["BATCH_FLOW", "STUB_ORG", "UNKNOWN_REPLY", "OpenAIServing", "jobs_page", "multipart_field"]
