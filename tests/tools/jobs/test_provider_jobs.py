"""launch_provider_job / provider_job_status: the real openai SDK and httpx against a local stub server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.documents import assert_document_renders
from tests.support.facts_helpers import confirm_last_known_prices
from tests.support.provider_stub import ProviderStub, serving
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.jobs import provider_jobs

REPO = Path(__file__).resolve().parent.parent.parent.parent
EXAMPLES = REPO / "examples" / "train.jsonl"
OPENAI = {"provider": "openai", "model": "gpt-4.1-mini-2025-04-14", "data": "train.jsonl"}
TOGETHER = {
    "provider": "together",
    "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "data": "train.jsonl",
    "lora_r": 16,
    "epochs": 2,
}
JOBS = r"/v1/fine_tuning/jobs"
T_JOBS = r"/together/v1/fine-tunes"


@pytest.fixture
def stub(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    with serving(ws, monkeypatch, EXAMPLES) as server:
        yield server


def _launch(ws: Workspace, **args):
    return registry.call("launch_provider_job", args, workspace=ws)


def _status(ws: Workspace, run_id: str | None = None, refresh: bool = True):
    return registry.call("provider_job_status", {"run_id": run_id, "refresh": refresh}, workspace=ws)


def _poll_until_done(ws: Workspace, run_id: str):
    for _ in range(10):
        info = _status(ws, run_id).jobs[0]
        if info.state in {"completed", "failed", "stopped"}:
            return info
    raise AssertionError("job never ended")


def test_dry_run_does_nothing_and_prices(ws: Workspace, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch) -> None:
    unconfirmed = _launch(ws, **OPENAI)  # OpenAI's training price is last known only (May 2026): not used
    assert unconfirmed.estimated_cost_usd is None and "an unknown amount" in unconfirmed.message
    confirm_last_known_prices(monkeypatch)
    out = _launch(ws, **OPENAI)
    assert not out.started and out.run_id is None
    assert out.estimated_cost_usd is not None and out.estimated_cost_usd > 0
    assert "confirm=true" in out.message and out.available_until == "2027-01-06"
    assert stub.requests == []
    assert not (ws.root / "runs").exists()
    assert_document_renders(ws, "launch_provider_job", out)
    assert out.document().headline.startswith("dry run: openai gpt-4.1-mini-2025-04-14 (supervised)")
    assert_document_renders(ws, "provider_job_status", _status(ws))
    together = _launch(ws, **TOGETHER)
    assert not together.started and together.estimated_cost_usd is not None
    assert stub.requests == []


def test_openai_success_path(ws: Workspace, stub: ProviderStub) -> None:
    out = _launch(ws, **OPENAI, method="supervised", epochs=2, suffix="support", confirm=True)
    assert out.started and not out.reused and out.job and out.job.job_id == "ftjob-0002"
    create = next(r for r in stub.requests if r.method == "POST" and r.path == JOBS)
    body = json.loads(create.body)
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert body["metadata"]["finetune_skill_key"] == out.idempotency_key
    assert body["suffix"].startswith("support-")
    assert stub.files["file-0001"] == EXAMPLES.read_bytes()
    info = _poll_until_done(ws, out.run_id)
    assert info.state == "completed" and info.output_model and info.output_model.startswith("ft:gpt-4.1-mini")
    assert_document_renders(ws, "launch_provider_job", out)
    assert_document_renders(ws, "provider_job_status", _status(ws, out.run_id))
    folder = ws.root / out.folder
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[-1]["loss"] == 1.2 and rows[-1]["eval_loss"] == 1.4
    assert (folder / "events.jsonl").read_text().count("\n") >= 3
    # run_status (local-run tool) shows it too, without calling it dead for lack of a process
    runs = registry.call("run_status", {}, workspace=ws).runs
    assert runs[0].state == "completed" and runs[0].base_model == OPENAI["model"]
    for path in folder.iterdir():  # the key never lands on disk
        assert "sk-test-not-real" not in path.read_text()


def test_openai_dpo_method(ws: Workspace, stub: ProviderStub) -> None:
    out = _launch(ws, **OPENAI, method="dpo", dpo_beta=0.2, confirm=True)
    body = json.loads(next(r for r in stub.requests if r.method == "POST" and r.path == JOBS).body)
    assert body["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}
    assert out.estimated_cost_usd is None and "cost unknown" in out.cost_basis


def test_retries_429_and_500_and_dropped_upload(ws: Workspace, stub: ProviderStub) -> None:
    stub.fault("POST", r"/v1/files", drop="mid_body")
    stub.fault("POST", r"/v1/files", status=429, headers={"retry-after-ms": "10"})
    stub.fault("POST", r"/v1/files", status=500, headers={"retry-after-ms": "10"})
    stub.fault("POST", JOBS, status=429, headers={"retry-after-ms": "10"})
    stub.fault("POST", JOBS, status=500)
    stub.fault("GET", JOBS + r"/.*", status=503, headers={"retry-after-ms": "10"})
    out = _launch(ws, **OPENAI, confirm=True)
    assert out.started and stub.count("POST", r"/v1/files") == 4
    assert stub.count("POST", JOBS) == 3 and len(stub.openai_jobs) == 1
    assert _poll_until_done(ws, out.run_id).state == "completed"


def test_lost_create_answer_makes_no_second_job(ws: Workspace, stub: ProviderStub) -> None:
    stub.fault("POST", JOBS, drop="after")  # the job is created, the answer never arrives
    out = _launch(ws, **OPENAI, confirm=True)
    assert out.started and out.job and out.job.job_id in stub.openai_jobs
    assert len(stub.openai_jobs) == 1 and stub.count("POST", JOBS) == 1
    again = _launch(ws, **OPENAI, confirm=True)  # a retried launch: same run, same job
    assert again.reused and again.run_id == out.run_id and again.job.job_id == out.job.job_id
    assert len(stub.openai_jobs) == 1 and stub.count("POST", JOBS) == 1
    # a crash between create and recording the id: the provider's job list has it
    status_file = ws.root / out.folder / "status.json"
    status = json.loads(status_file.read_text())
    status["job_id"] = None
    status_file.write_text(json.dumps(status))
    third = _launch(ws, **OPENAI, confirm=True)
    assert third.reused and third.job.job_id == out.job.job_id and len(stub.openai_jobs) == 1
    assert _launch(ws, **OPENAI).run_id == out.run_id  # the dry run says which run holds it


def test_failed_job_surfaces_error(ws: Workspace, stub: ProviderStub) -> None:
    stub.fail_jobs = {
        "code": "invalid_training_file",
        "message": "line 3: missing assistant message",
        "param": "training_file",
    }
    out = _launch(ws, **OPENAI, confirm=True)
    info = _poll_until_done(ws, out.run_id)
    assert info.state == "failed" and "line 3: missing assistant message" in info.error
    assert "invalid_training_file" in info.error
    failed = _status(ws, out.run_id, refresh=False)
    assert_document_renders(ws, "provider_job_status", failed)
    assert failed.document().status == "problems"
    runs = registry.call("run_status", {"run_id": out.run_id}, workspace=ws).runs
    assert runs[0].state == "failed" and "line 3" in runs[0].error
    with pytest.raises(ToolError) as exc:
        registry.call("resume_run", {"run_id": out.run_id, "confirm": True}, workspace=ws)
    assert exc.value.code == "provider_run"


def test_non_retryable_error_is_reported(ws: Workspace, stub: ProviderStub) -> None:
    stub.fault("POST", JOBS, status=400)
    with pytest.raises(ToolError) as exc:
        _launch(ws, **OPENAI, confirm=True)
    assert exc.value.code == "provider_error" and "HTTP 400" in exc.value.message
    out = _launch(ws, **OPENAI, confirm=True)  # calling again reuses the uploaded file and the run folder
    assert out.started and stub.count("POST", r"/v1/files") == 1 and len(list((ws.root / "runs").iterdir())) == 1


def test_refuses_after_end_date(ws: Workspace, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-06")
    for confirm in (False, True):
        with pytest.raises(ToolError) as exc:
            _launch(ws, **OPENAI, confirm=confirm)
        assert exc.value.code == "offering_ended" and "2027-01-06" in exc.value.message
    assert stub.requests == []


def test_missing_key_is_refused(ws: Workspace, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY")
    with pytest.raises(ToolError) as exc:
        _launch(ws, **TOGETHER, confirm=True)
    assert exc.value.code == "missing_api_key"


def test_together_success_with_retries(ws: Workspace, stub: ProviderStub) -> None:
    stub.fault("POST", r"/together/v1/files/upload", drop="mid_body")
    stub.fault("POST", r"/together/v1/files/upload", status=429, headers={"retry-after": "0"})
    stub.fault("POST", T_JOBS, status=500)
    stub.fault("GET", T_JOBS + r"/.*", status=503, headers={"retry-after": "0"})
    out = _launch(ws, **TOGETHER, confirm=True)
    assert out.started and len(stub.together_jobs) == 1
    create = [r for r in stub.requests if r.method == "POST" and r.path == T_JOBS and not r.dropped][-1]
    body = json.loads(create.body)
    assert body["training_type"]["type"] == "Lora" and body["training_type"]["lora_r"] == 16
    assert body["training_method"] == {"method": "sft", "train_on_inputs": "auto"} and body["n_epochs"] == 2
    assert body["training_type"]["lora_alpha"] == 32 and body["training_type"]["lora_trainable_modules"] == "all-linear"
    assert create.headers["authorization"] == "Bearer tg-test-not-real"
    assert stub.files[body["training_file"]] == EXAMPLES.read_bytes()
    info = _poll_until_done(ws, out.run_id)
    assert info.state == "completed" and body["suffix"] in info.output_model
    assert info.step == 2 and info.latest_loss == 1.3 and info.latest_eval_loss == 1.5
    again = _launch(ws, **TOGETHER, confirm=True)
    assert again.reused and len(stub.together_jobs) == 1


def test_together_failed_job_and_lost_answer(ws: Workspace, stub: ProviderStub) -> None:
    stub.fail_jobs = {"message": "model not available for LoRA fine-tuning"}
    stub.fault("POST", T_JOBS, drop="after")
    out = _launch(ws, **TOGETHER, confirm=True)
    assert len(stub.together_jobs) == 1 and out.job.job_id in stub.together_jobs
    info = _poll_until_done(ws, out.run_id)
    assert info.state == "failed" and "not available for LoRA" in info.error
    listed = _status(ws).jobs  # no run id: every provider run, ended ones read from the folder
    assert [j.state for j in listed] == ["failed"]


def test_cli_job_launch_and_status(in_ws: Workspace, stub: ProviderStub, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    runner = CliRunner()
    dry = runner.invoke(app, ["job", "launch", "train.jsonl", "--provider", "openai", "--model", OPENAI["model"]])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and stub.requests == []
    started = runner.invoke(
        app, ["job", "launch", "train.jsonl", "--provider", "openai", "--model", OPENAI["model"], "--confirm", "--json"]
    )
    assert started.exit_code == 0, started.output
    run_id = json.loads(started.output)["run_id"]
    monkeypatch.setitem(provider_jobs.settings(), "poll_interval_s", 0)
    waited = runner.invoke(app, ["job", "status", run_id, "--wait"])
    assert waited.exit_code == 0, waited.output
    assert "completed" in waited.output and "output model: ft:" in waited.output
    offline = runner.invoke(app, ["job", "status", "--offline", "--json"])
    assert offline.exit_code == 0 and json.loads(offline.output)["jobs"][0]["state"] == "completed"
    monkeypatch.setenv("FINETUNE_TODAY", "2027-02-01")
    refused = runner.invoke(app, ["job", "launch", "train.jsonl", "--provider", "openai", "--model", OPENAI["model"]])
    assert refused.exit_code == 2 and "2027-01-06" in refused.output
