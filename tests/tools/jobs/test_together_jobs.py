"""tools/jobs/together_api.py against the Together half of the local stub (shapes from Together's OpenAPI spec)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.provider_stub import ProviderStub, serving
from tools.core import registry
from tools.core.workspace import Workspace
from tools.jobs import provider_jobs
from tools.jobs import together_api as tj

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"
MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
T_JOBS = r"/together/v1/fine-tunes"


@pytest.fixture
def stub(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    with serving(ws, monkeypatch, EXAMPLES) as server:
        yield server


def _cfg() -> dict:
    return provider_jobs.settings()


def test_together_upload_sends_documented_form_and_reads_file_response(ws: Workspace, stub: ProviderStub) -> None:
    file_id = tj.upload(_cfg(), ws.root / "train.jsonl")
    assert stub.files[file_id] == EXAMPLES.read_bytes()
    sent = next(r for r in stub.requests if r.path == "/together/v1/files/upload")
    for field in (b'name="file_name"', b'name="purpose"', b'name="file_type"', b'name="file"; filename="train.jsonl"'):
        assert field in sent.body
    assert b"fine-tune" in sent.body
    # the stub answers like the API: a missing required form field is a 400, not a file
    bad = httpx.post(
        stub.together_url + "/files/upload", files={"file": ("x.jsonl", b"{}\n")}, headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 400


def test_together_long_suffix_is_capped_and_the_key_still_finds_the_job(ws: Workspace, stub: ProviderStub) -> None:
    args = {"provider": "together", "model": MODEL, "data": "train.jsonl", "suffix": "s" * 40, "confirm": True}
    out = registry.call("launch_provider_job", args, workspace=ws)
    body = json.loads(next(r for r in stub.requests if r.method == "POST" and r.path == T_JOBS).body)
    assert len(body["suffix"]) <= int(provider_jobs.settings()["together_suffix_max_chars"]) == 40 and body[
        "suffix"
    ].endswith("-" + out.idempotency_key[:12])
    # a crash between create and recording the id: the job list (suffix field) finds it again
    status_file = ws.root / out.folder / "status.json"
    status = json.loads(status_file.read_text())
    status["job_id"] = None
    status_file.write_text(json.dumps(status))
    again = registry.call("launch_provider_job", args, workspace=ws)
    assert again.reused and again.job.job_id == out.job.job_id and len(stub.together_jobs) == 1


def test_together_find_job_by_output_name_and_newest_first(
    ws: Workspace, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "0123456789abcdef01234567"
    old = [
        {
            "id": f"ft-old{i}",
            "status": "completed",
            "created_at": f"2025-01-{i + 1:02d}T00:00:00Z",
            "model_output_name": f"acct/m-other{i}",
        }
        for i in range(3)
    ]
    mine = {
        "id": "ft-mine",
        "status": "running",
        "created_at": "2026-11-24T00:00:00Z",
        "model_output_name": f"acct/Meta-Llama-3.1-8B-Instruct-Reference-ft-{key[:12]}-77aa",
    }  # no suffix field
    monkeypatch.setattr(tj, "request", lambda *a, **k: {"data": [*old, mine]})
    monkeypatch.setitem(_cfg(), "job_list_limit", 2)
    found = tj.find_job(_cfg(), key, f"ft-{key[:12]}")
    assert found and found["job_id"] == "ft-mine" and found["state"] == "running"
    assert tj.find_job(_cfg(), "f" * 24, "ft-ffffffffffff") is None


def test_together_dpo_payload(ws: Workspace, stub: ProviderStub) -> None:
    file_id = tj.upload(_cfg(), ws.root / "train.jsonl")
    job = tj.create(
        _cfg(),
        {
            "model": MODEL,
            "training_file": file_id,
            "suffix": "pref-0123456789ab",
            "method": "dpo",
            "dpo_beta": 0.1,
            "lora_r": 8,
            "epochs": 1,
        },
    )
    body = json.loads(next(r for r in stub.requests if r.method == "POST" and r.path == T_JOBS).body)
    assert body["training_method"] == {"method": "dpo", "dpo_beta": 0.1}
    assert body["training_type"] == {
        "type": "Lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    assert (
        job["state"] == "queued" and job["provider_state"] == "pending" and "pref-0123456789ab" in job["output_model"]
    )


def test_together_refresh_reads_events_and_metrics_endpoint(ws: Workspace, stub: ProviderStub) -> None:
    stub.fail_jobs = {"message": "Out of credits"}
    file_id = tj.upload(_cfg(), ws.root / "train.jsonl")
    job_id = tj.create(_cfg(), {"model": MODEL, "training_file": file_id, "suffix": "x-0123456789ab", "method": "sft"})[
        "job_id"
    ]
    for _ in range(4):
        job, events, rows = tj.refresh(_cfg(), job_id)
    assert job["state"] == "failed" and job["error"] == "Out of credits"  # from the level "Error" event
    assert events[0]["message"] == "Fine tune request created" and rows == [{"step": 1, "loss": 1.9, "eval_loss": None}]
    assert stub.count("GET", T_JOBS + r"/[^/]+/metrics") == 4


def test_together_metric_rows_and_error_events() -> None:
    rows = tj.metric_rows(
        [
            {"train/global_step": 1, "train/loss": 2.0},
            {"train/global_step": 2, "train/loss": 1.5},
            {"train/global_step": 2, "eval/loss": 1.7},
            {"timestamp": 1},
        ]
    )
    assert rows == [{"step": 1, "loss": 2.0, "eval_loss": None}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}]
    for ev in ({"level": "Error"}, {"level": "error"}, {"type": "JOB_USER_ERROR"}, {"type": "job_error"}):
        assert tj._is_error(ev)
    assert not tj._is_error({"level": "Info", "type": "JOB_COMPLETE"})
    assert tj.fit_suffix("ft-0123456789ab", 40) == "ft-0123456789ab"
    assert (
        tj.fit_suffix("run-with-a-rather-long-name-for-this-0123456789ab", 40)
        == "run-with-a-rather-long-name-0123456789ab"
    )
    assert tj.normal({"id": "ft-1", "status": "user_error", "model_output_name": "a/b"})["state"] == "failed"
    assert tj.normal({"id": "ft-1", "status": "completed", "output_name": "a/b"})["output_model"] == "a/b"
