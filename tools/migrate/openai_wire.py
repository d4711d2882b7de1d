"""The OpenAI calls a migration makes, through the official ``openai`` SDK: the organisation's models and
fine-tuning jobs, file contents, chat completions and the Batch API.

The client is the one provider jobs use (:func:`tools.jobs.openai_api.client`): the key comes from
``OPENAI_API_KEY`` only and goes to api.openai.com or to the ``OPENAI_BASE_URL`` the person set; retries and
timeouts come from ``reference/data/provider_jobs.yaml``. SDK errors become ToolErrors with the HTTP status and
OpenAI's own message; nothing here writes files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tools.core.errors import ToolError
from tools.jobs.openai_api import client as sdk_client
from tools.jobs.openai_api import error_message
from tools.jobs.provider_jobs import settings as job_settings

RETRY_STATUS = {408, 409, 429}
KEY_FIELD = "finetune_skill_key"


def client() -> Any:
    return sdk_client(job_settings())


def call(what: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; SDK errors as ToolErrors. ``missing_ok``: a 404 returns None (a deleted file)."""
    import openai

    try:
        return fn(*args, **kwargs)
    except openai.APIStatusError as exc:
        if missing_ok and exc.status_code == 404:
            return None
        message = error_message(exc)
        if exc.status_code in RETRY_STATUS or exc.status_code >= 500:
            raise ToolError(
                "provider_busy",
                f"OpenAI {what} failed: HTTP {exc.status_code}: {message}",
                "OpenAI is overloaded or rate-limiting; call again later (answers already recorded are kept)",
            ) from None
        raise ToolError(
            "provider_error",
            f"OpenAI {what} failed: HTTP {exc.status_code}: {message}",
            "check the key (it must belong to the organisation that owns the fine-tune) and the model id",
        ) from None
    except openai.APIConnectionError as exc:
        raise ToolError(
            "provider_unreachable",
            f"OpenAI {what} failed after retries: {exc}",
            "check the network (or OPENAI_BASE_URL) and call again; answers already recorded are kept",
        ) from None


def dump(obj: Any) -> dict[str, Any]:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def list_jobs(c: Any, page_size: int, max_pages: int) -> tuple[list[dict[str, Any]], bool]:
    """Every fine-tuning job of the organisation, newest first, and whether the list was cut at ``max_pages``."""
    page = call("listing fine-tuning jobs", c.fine_tuning.jobs.list, limit=page_size)
    jobs = [dump(j) for j in page.data]
    for _ in range(max_pages - 1):
        if not page.has_next_page():
            return jobs, False
        page = call("listing fine-tuning jobs", page.get_next_page)
        jobs += [dump(j) for j in page.data]
    return jobs, page.has_next_page()


def list_models(c: Any) -> list[dict[str, Any]]:
    """The models the key can use (the organisation's fine-tunes among them)."""
    page = call("listing models", c.models.list)
    return [dump(m) for m in page.data]


def file_content(c: Any, file_id: str) -> bytes | None:
    """A file's bytes; None when OpenAI no longer has it (deleted)."""
    response = call(f"download of file {file_id}", c.files.content, file_id, missing_ok=True)
    return None if response is None else bytes(response.content)


def chat(c: Any, body: dict[str, Any]) -> dict[str, Any]:
    """One chat completion (``body`` as the API takes it); one attempt beyond the SDK's own retries."""
    return dump(call(f"chat completion with {body.get('model')}", c.chat.completions.create, **body))


def upload_batch_file(c: Any, name: str, content: bytes) -> str:
    obj = call(f"upload of {name}", c.files.create, file=(name, content, "application/jsonl"), purpose="batch")
    return str(obj.id)


def find_batch(c: Any, key: str) -> dict[str, Any] | None:
    """A batch created earlier for this key (its metadata), if the organisation's recent batches hold one."""
    page = call("listing batches", c.batches.list, limit=100)
    for batch in page.data:
        data = dump(batch)
        if (data.get("metadata") or {}).get(KEY_FIELD) == key:
            return data
    return None


def create_batch(c: Any, input_file_id: str, window: str, key: str) -> dict[str, Any]:
    batch = call(
        "batch creation",
        c.with_options(max_retries=0).batches.create,
        input_file_id=input_file_id,
        endpoint="/v1/chat/completions",
        completion_window=window,
        metadata={KEY_FIELD: key},
    )
    return dump(batch)


def get_batch(c: Any, batch_id: str) -> dict[str, Any]:
    return dump(call(f"batch {batch_id}", c.batches.retrieve, batch_id))


def jsonl_objects(data: bytes | None) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL download (a batch's output or error file); unparseable lines are skipped."""
    out = []
    for raw in (data or b"").decode("utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


__all__ = [
    "KEY_FIELD",
    "call",
    "chat",
    "client",
    "create_batch",
    "dump",
    "file_content",
    "find_batch",
    "get_batch",
    "jsonl_objects",
    "list_jobs",
    "list_models",
    "upload_batch_file",
]
