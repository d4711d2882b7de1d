"""A local HTTP server that plays the OpenAI fine-tuning API, the OpenAI serving API a migration reads (models,
file contents, chat completions, batches: tests/support/openai_serving_stub.py) and Together's fine-tuning REST API.

Stateful: uploads become files, created jobs advance one status per GET of the job (OpenAI:
validating_files -> queued -> running -> succeeded; Together: pending -> queued -> running -> completed),
with metric events and, for OpenAI, a step_metrics CSV result file. The Together side mirrors the shapes in
togethercomputer/openapi openapi.yaml and the together-py types (see tools/jobs/together_api.py): FileResponse
from /files/upload, FinetuneResponseTruncated from POST/GET /fine-tunes (the only one with ``suffix``),
FinetuneResponse from GET /fine-tunes/{id} (no error field), ``{data: [fine-tune-event]}`` events without
loss, and ``{metrics: [...]}`` with separate train/* and eval/* rows. Faults are scripted per route:
an HTTP status with headers, or a connection dropped while the request body is still arriving (or
after the request was processed, so the client never sees the answer). Nothing leaves 127.0.0.1.

    with ProviderStub() as stub:
        stub.fault("POST", "/v1/files", status=429)
        ... OPENAI_BASE_URL=stub.openai_url, TOGETHER_BASE_URL=stub.together_url ...
        stub.count("POST", "/v1/fine_tuning/jobs")
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.openai_serving_stub import OpenAIServing, jobs_page, multipart_field

OPENAI_FLOW = ["validating_files", "queued", "running", "succeeded"]
TOGETHER_FLOW = ["pending", "queued", "running", "completed"]
RESULT_CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,2.10,0.41,2.20,0.40\n2,1.70,0.52,,\n3,1.20,0.63,1.40,0.58\n"
)


@dataclass
class Fault:
    method: str
    path: str  # a regex matched against the path (without query)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None  # "mid_body": hang up while the body arrives; "after": process, then hang up
    times: int = 1
    skip: int = 0  # matching requests let through before the fault applies


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    dropped: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: Any
    body: bytes
    json: Any
    query: dict[str, list[str]]


class ProviderStub(OpenAIServing):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.openai_jobs: dict[str, dict[str, Any]] = {}
        self.together_jobs: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.fail_jobs: dict[str, Any] | None = None  # error for jobs created from now on
        self._lock = threading.Lock()
        self._n = 0
        self._init_serving()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                url = urlparse(self.path)
                path = url.path
                length = int(self.headers.get("content-length") or 0)
                fault = stub._take_fault(self.command, path)
                if fault and fault.drop == "mid_body":
                    self.rfile.read(max(1, length // 2))
                    stub._log(self.command, path, self.headers, b"", dropped=True)
                    self._hang_up()
                    return
                body = self.rfile.read(length) if length else b""
                stub._log(self.command, path, self.headers, body, dropped=bool(fault and fault.drop))
                if fault and fault.status:
                    self._send(
                        fault.status,
                        {"error": {"message": f"stub fault {fault.status}", "type": "stub", "code": str(fault.status)}},
                        fault.headers,
                    )
                    return
                try:
                    status, payload, ctype = stub._route(self.command, path, self.headers, body, url.query)
                except Exception as exc:  # noqa: BLE001 - a stub bug shows as a 599 the test can read
                    status, payload, ctype = 599, {"error": {"message": f"stub crashed: {exc!r}"}}, "application/json"
                if fault and fault.drop == "after":
                    self._hang_up()
                    return
                self._send(status, payload, {}, ctype)

            def _hang_up(self) -> None:
                self.close_connection = True
                try:
                    import socket

                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _send(
                self, status: int, payload: Any, headers: dict[str, str], ctype: str = "application/json"
            ) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.openai_url = self.url + "/v1"
        self.together_url = self.url + "/together/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ test API

    def __enter__(self) -> ProviderStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        drop: str | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        skip: int = 0,
    ) -> None:
        self.faults.append(Fault(method, path, status, headers or {}, drop, times, skip))

    def count(self, method: str, path: str, *, answered: bool = False) -> int:
        return sum(
            1
            for r in self.requests
            if r.method == method and re.fullmatch(path, r.path) and not (answered and r.dropped)
        )

    # ------------------------------------------------------------------ internals

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and re.fullmatch(f.path, path):
                    if f.skip > 0:
                        f.skip -= 1
                        continue
                    f.times -= 1
                    return f
        return None

    def _log(self, method: str, path: str, headers: Any, body: bytes, *, dropped: bool) -> None:
        with self._lock:
            self.requests.append(Seen(method, path, {k.lower(): v for k, v in headers.items()}, body, dropped))

    def _id(self, prefix: str) -> str:
        with self._lock:
            self._n += 1
            return f"{prefix}{self._n:04d}"

    def _upload(self, body: bytes, headers: Any) -> dict[str, Any]:
        name = re.search(rb'filename="([^"]+)"', body)
        fid = self._id("file-")
        # The file part's content: between the part headers and the next boundary.
        boundary = re.search(r"boundary=([^;]+)", headers.get("content-type", ""))
        content = body
        if boundary:
            for part in body.split(b"--" + boundary.group(1).strip('"').encode()):
                if b'name="file"' in part:
                    content = part.split(b"\r\n\r\n", 1)[-1].rsplit(b"\r\n", 1)[0]
        self.files[fid] = content
        purpose = multipart_field(body, headers.get("content-type", ""), "purpose")
        return {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": 1760000000,
            "filename": name.group(1).decode() if name else "upload.jsonl",
            "purpose": purpose.decode() if purpose else "fine-tune",
            "status": "processed",
        }

    def _route(self, method: str, path: str, headers: Any, body: bytes, query: str = "") -> tuple[int, Any, str]:
        js = json.loads(body) if body and "json" in headers.get("content-type", "") else None
        request = Request(method, path, headers, body, js, parse_qs(query))
        for pattern, verb, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and verb in (None, method):
                return handler(request, match)
        return 404, {"error": {"message": f"stub: no route {method} {path}"}}, "application/json"

    def _routes(self) -> list[tuple[str, str | None, Any]]:
        """(path pattern, method or None for any, handler(request, match)) in the order they are tried."""
        return [
            (r"/v1/files", "POST", lambda r, m: (200, self._upload(r.body, r.headers), "application/json")),
            (r"/together/v1/files/upload", "POST", lambda r, m: self._together_upload(r.body, r.headers)),
            (r"/v1/files/([^/]+)/content", "GET", lambda r, m: self._file_content(m.group(1))),
            (r"/v1/fine_tuning/jobs", None, lambda r, m: self._openai_jobs_route(r)),
            (r"/v1/fine_tuning/jobs/([^/]+)(/events)?", None, lambda r, m: self._openai_job_route(m)),
            (r"/v1/models", "GET", lambda r, m: self._models_list()),
            (r"/v1/models/([^/]+)", "GET", lambda r, m: self._model_get(m.group(1))),
            (r"/v1/chat/completions", "POST", lambda r, m: self._chat(r.json)),
            (r"/v1/batches", None, lambda r, m: self._batches(r.method, r.json)),
            (r"/v1/batches/([^/]+)", "GET", lambda r, m: self._batch_get(m.group(1))),
            (r"/together/v1/fine-tunes", None, lambda r, m: self._together_jobs_route(r)),
            (r"/together/v1/fine-tunes/([^/]+)(/events|/metrics)?", None, lambda r, m: self._together_job_route(m)),
        ]

    def _file_content(self, file_id: str) -> tuple[int, Any, str]:
        if file_id not in self.files:
            error = {"message": f"No such File object: {file_id}", "type": "invalid_request_error", "param": "id"}
            return 404, {"error": error}, "application/json"
        return 200, self.files[file_id], "application/octet-stream"

    def _openai_jobs_route(self, r: Request) -> tuple[int, Any, str]:
        if r.method == "POST":
            job = self._openai_job(r.json or {})
            self.openai_jobs[job["id"]] = job
            return 200, self._job_view(job), "application/json"
        jobs = [self._job_view(j) for j in sorted(self.openai_jobs.values(), key=lambda j: j["id"], reverse=True)]
        return 200, jobs_page(jobs, r.query), "application/json"

    @staticmethod
    def _job_view(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _openai_job_route(self, m: re.Match[str]) -> tuple[int, Any, str]:
        job = self.openai_jobs.get(m.group(1))
        if job is None:
            return 404, {"error": {"message": "no such job", "type": "invalid_request_error"}}, "application/json"
        if m.group(2):
            return (
                200,
                {"object": "list", "data": list(reversed(job["_events"])), "has_more": False},
                "application/json",
            )
        self._advance_openai(job)
        return 200, self._job_view(job), "application/json"

    def _together_jobs_route(self, r: Request) -> tuple[int, Any, str]:
        if r.method == "POST":
            problem = self._together_bad_request(r.json)
            if problem:
                return 400, {"error": {"message": problem, "type": "invalid_request_error"}}, "application/json"
            job = self._together_job(r.json or {})
            self.together_jobs[job["id"]] = job
            return 200, self._truncated(job), "application/json"
        return 200, {"data": [self._truncated(j) for j in self.together_jobs.values()]}, "application/json"

    def _together_job_route(self, m: re.Match[str]) -> tuple[int, Any, str]:
        job = self.together_jobs.get(m.group(1))
        if job is None:
            return 404, {"error": {"message": "no such job"}}, "application/json"
        if m.group(2) == "/events":
            return 200, {"data": job["_events"]}, "application/json"
        if m.group(2) == "/metrics":
            return 200, {"metrics": job["_metrics"]}, "application/json"
        self._advance_together(job)
        return 200, self._full(job), "application/json"

    # ------------------------------------------------------------------ OpenAI jobs

    def _openai_job(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._id("ftjob-"),
            "object": "fine_tuning.job",
            "created_at": 1760000000,
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {"n_epochs": "auto"},
            "model": req.get("model"),
            "organization_id": "org-stub",
            "result_files": [],
            "seed": req.get("seed", 1),
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": req.get("training_file"),
            "validation_file": req.get("validation_file"),
            "metadata": req.get("metadata"),
            "user_provided_suffix": req.get("suffix"),
            "method": req.get("method"),
            "_step": 0,
            "_events": [self._oev("info", "message", "Validating training file")],
            "_fail": self.fail_jobs,
        }

    def _oev(self, level: str, kind: str, message: str, data: Any = None) -> dict[str, Any]:
        return {
            "id": self._id("ftevent-"),
            "object": "fine_tuning.job.event",
            "created_at": 1760000000 + self._n,
            "level": level,
            "message": message,
            "type": kind,
            "data": data,
        }

    def _advance_openai(self, job: dict[str, Any]) -> None:
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        job["_step"] += 1
        nxt = OPENAI_FLOW[min(job["_step"], len(OPENAI_FLOW) - 1)]
        if nxt == "running":
            for step, loss in ((1, 2.1), (2, 1.7)):
                job["_events"].append(
                    self._oev(
                        "info",
                        "metrics",
                        f"Step {step}/3: training loss={loss}",
                        {"step": step, "train_loss": loss, "total_steps": 3},
                    )
                )
        if nxt == "succeeded" and job["_fail"]:
            job["status"] = "failed"
            job["error"] = job["_fail"]
            job["_events"].append(self._oev("error", "message", "Training file has invalid examples"))
            return
        if nxt == "succeeded":
            rid = self._id("file-")
            self.files[rid] = RESULT_CSV.encode()
            job["result_files"] = [rid]
            job["fine_tuned_model"] = f"ft:{job['model']}:org-stub:{job['user_provided_suffix']}:abc123"
            job["trained_tokens"] = 4242
            job["_events"].append(self._oev("info", "message", "The job has successfully completed"))
        job["status"] = nxt

    # ------------------------------------------------------------------ Together jobs

    def _together_upload(self, body: bytes, headers: Any) -> tuple[int, Any, str]:
        """POST /files/upload: multipart purpose, file_name, file (required) and file_type -> FileResponse."""
        boundary = re.search(r"boundary=([^;]+)", headers.get("content-type", ""))
        parts: dict[str, bytes] = {}
        if boundary:
            for part in body.split(b"--" + boundary.group(1).strip('"').encode()):
                head, _, value = part.partition(b"\r\n\r\n")
                name = re.search(rb'name="([^"]+)"', head)
                if name:
                    parts[name.group(1).decode()] = value.rsplit(b"\r\n", 1)[0]
        missing = [f for f in ("purpose", "file_name", "file") if f not in parts]
        if missing:
            return 400, {"error": {"message": f"missing form fields: {missing}"}}, "application/json"
        fid = self._id("file-")
        self.files[fid] = parts["file"]
        return (
            200,
            {
                "id": fid,
                "object": "file",
                "created_at": 1760000000,
                "filename": parts["file_name"].decode(),
                "bytes": len(parts["file"]),
                "purpose": parts["purpose"].decode(),
                "Processed": True,
                "FileType": parts.get("file_type", b"jsonl").decode(),
                "LineCount": parts["file"].count(b"\n"),
            },
            "application/json",
        )

    def _together_bad_request(self, req: dict[str, Any] | None) -> str | None:
        if not req or not req.get("training_file") or not req.get("model"):
            return "training_file and model are required"
        if req["training_file"] not in self.files:
            return f"unknown training_file {req['training_file']}"
        if len(str(req.get("suffix") or "")) > 40:
            return "suffix must be at most 40 characters"
        kind = (req.get("training_type") or {}).get("type", "Lora")
        method = (req.get("training_method") or {}).get("method", "sft")
        if kind not in {"Lora", "Full"} or method not in {"sft", "dpo"}:
            return f"unknown training_type {kind!r} or training_method {method!r}"
        return None

    # FinetuneResponseTruncated (POST /fine-tunes, GET /fine-tunes) carries suffix; FinetuneResponse does not.
    _TRUNCATED = (
        "id",
        "status",
        "created_at",
        "updated_at",
        "user_id",
        "owner_address",
        "model",
        "model_output_name",
        "suffix",
        "training_file",
        "validation_file",
        "n_epochs",
        "n_evals",
        "n_checkpoints",
        "batch_size",
        "learning_rate",
        "warmup_ratio",
        "training_type",
        "training_method",
        "token_count",
        "total_price",
    )

    def _truncated(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: job[k] for k in self._TRUNCATED if k in job}

    @staticmethod
    def _full(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_") and k != "suffix"}

    def _tev(self, kind: str, message: str, level: str = "Info", **extra: Any) -> dict[str, Any]:
        return {
            "object": "fine-tune-event",
            "created_at": f"2026-11-24T00:{self._n % 60:02d}:00Z",
            "level": level,
            "message": message,
            "type": kind,
            "hash": f"h{self._n:04d}",
            **extra,
        }

    def _together_job(self, req: dict[str, Any]) -> dict[str, Any]:
        jid = self._id("ft-")
        base = str(req.get("model")).split("/")[-1]
        return {
            "id": jid,
            "status": "pending",
            "created_at": f"2026-11-24T00:00:{self._n % 60:02d}.000Z",
            "updated_at": "2026-11-24T00:00:00.000Z",
            "user_id": "user_stub",
            "owner_address": "stub@example.com",
            "model": req.get("model"),
            "suffix": req.get("suffix"),
            "model_output_name": f"stub-user/{base}-{req.get('suffix')}-{jid[-4:]}",
            "training_file": req.get("training_file"),
            "validation_file": req.get("validation_file", ""),
            "n_epochs": req.get("n_epochs", 1),
            "n_evals": req.get("n_evals", 0),
            "n_checkpoints": 1,
            "batch_size": req.get("batch_size", "max"),
            "learning_rate": req.get("learning_rate", 0.00001),
            "warmup_ratio": 0.0,
            "training_type": req.get("training_type"),
            "training_method": req.get("training_method"),
            "token_count": 0,
            "total_price": 0,
            "param_count": 8030261248,
            "events": [],
            "queue_depth": 0,
            "epochs_completed": 0,
            "_step": 0,
            "_fail": self.fail_jobs,
            "_metrics": [],
            "_events": [self._tev("JOB_PENDING", "Fine tune request created")],
        }

    def _advance_together(self, job: dict[str, Any]) -> None:
        if job["status"] in ("completed", "error", "cancelled"):
            return
        job["_step"] += 1
        nxt = TOGETHER_FLOW[min(job["_step"], len(TOGETHER_FLOW) - 1)]
        if nxt == "running":
            job["_events"] += [
                self._tev("JOB_START", "Job started at Tue Nov 24 00:01:00 UTC 2026"),
                self._tev("TRAINING_START", f"Training started for model {job['model']}"),
            ]
            job["_metrics"].append(
                {
                    "timestamp": 1795478460000000000,
                    "train/global_step": 1,
                    "train/epoch": 0.5,
                    "train/loss": 1.9,
                    "train/grad_norm": 1.2,
                    "train/learning_rate": 1e-05,
                }
            )
        if nxt == "completed" and job["_fail"]:
            job["status"] = "error"
            job["_events"].append(self._tev("JOB_ERROR", str(job["_fail"].get("message")), level="Error"))
            return
        if nxt == "completed":
            job["_metrics"] += [
                {
                    "timestamp": 1795478520000000000,
                    "train/global_step": 2,
                    "train/epoch": 1.0,
                    "train/loss": 1.3,
                    "train/grad_norm": 0.9,
                    "train/learning_rate": 0.0,
                },
                {"timestamp": 1795478521000000000, "train/global_step": 2, "eval/loss": 1.5},
            ]
            job["_events"] += [
                self._tev("EPOCH_COMPLETE", "Epoch completed, at step 2", step=2, total_steps=2),
                self._tev("TRAINING_COMPLETE", f"Training completed for {job['model']}"),
                self._tev("JOB_COMPLETE", "Job finished at Tue Nov 24 00:03:00 UTC 2026"),
            ]
            job["token_count"], job["epochs_completed"] = 4242, job["n_epochs"]
        job["status"] = nxt


@contextmanager
def serving(ws: Any, monkeypatch: Any, examples: Path) -> Iterator[ProviderStub]:
    """A stub with both providers' keys and base URLs set, fast retries, today's date pinned, and ``examples``
    copied to the workspace as train.jsonl."""
    from tools.jobs import provider_jobs

    shutil.copy(examples, ws.root / "train.jsonl")
    with ProviderStub() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        monkeypatch.setenv("TOGETHER_API_KEY", "tg-test-not-real")
        monkeypatch.setenv("TOGETHER_BASE_URL", server.together_url)
        monkeypatch.setenv("FINETUNE_TODAY", "2026-11-24")
        monkeypatch.setitem(provider_jobs.settings(), "retry_base_s", 0.01)
        monkeypatch.setitem(provider_jobs.settings(), "max_retries", 3)
        yield server
