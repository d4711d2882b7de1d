"""openai_inventory against the stub OpenAI organisation (the real openai SDK over HTTP), and from local files."""

from __future__ import annotations

import json

import pytest

from tests.support.provider_stub import ProviderStub
from tests.tools.migrate.conftest import BASE, PIRATE
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace
from tools.migrate.facts import migration


def _inventory(ws: Workspace, **args):
    return registry.call("openai_inventory", args, workspace=ws)


def test_lists_the_fine_tune_with_its_job_files_and_dates(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    stub, model = openai_org
    out = _inventory(ws)
    assert out.source == "openai" and out.jobs_seen == 1 and not out.truncated
    [ft] = out.models
    assert ft.model == model and ft.base == BASE and ft.status == "ending"
    assert (str(ft.closes), str(ft.serving_until), ft.days_left) == ("2027-01-06", "2027-01-14", 41)
    assert ft.method == "supervised" and "n_epochs=2" in (ft.hyperparameters or "")
    assert ft.job_id in stub.openai_jobs and str(ft.created) == "2025-01-01"
    assert (ws.root / ft.training_file).read_bytes() == PIRATE.read_bytes()  # the copy is byte for byte
    assert ft.api_shutdown_date is None and ft.notes == []
    saved = json.loads((ws.root / ft.folder / "model.json").read_text())
    assert saved["model"] == model and saved["training_file"] == ft.training_file
    assert json.loads((ws.root / out.file).read_text())["today"] == "2026-12-04"
    assert any("serving ends on 2027-01-14" in w for w in out.warnings)
    # a second inventory does not download the file again
    before = stub.count("GET", r"/v1/files/.*/content")
    _inventory(ws)
    assert stub.count("GET", r"/v1/files/.*/content") == before


def test_pages_through_the_job_list(
    ws: Workspace, openai_org: tuple[ProviderStub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, model = openai_org
    others = [stub.add_finetune("gpt-4.1-mini-2025-04-14", f"team{i}", PIRATE.read_bytes()) for i in range(2)]
    monkeypatch.setattr(migration().setting("list_page_size"), "value", 1)
    out = _inventory(ws, download=False)
    assert {m.model for m in out.models} == {model, *others} and out.jobs_seen == 3
    assert stub.count("GET", "/v1/fine_tuning/jobs") == 3
    monkeypatch.setattr(migration().setting("list_max_pages"), "value", 2)
    cut = _inventory(ws, download=False)
    assert cut.truncated and cut.jobs_seen == 2 and any("only the newest were read" in w for w in cut.warnings)


def test_deleted_file_and_disagreeing_shutdown_date_are_said(
    ws: Workspace, openai_org: tuple[ProviderStub, str]
) -> None:
    stub, model = openai_org
    job = next(iter(stub.openai_jobs.values()))
    del stub.files[job["training_file"]]
    stub.models[model]["shutdown_date"] = "2027-01-10"
    [ft] = _inventory(ws).models
    assert ft.training_file is None and any("no longer at OpenAI" in n for n in ft.notes)
    assert ft.api_shutdown_date == "2027-01-10"
    assert any("shutdown_date 2027-01-10, our facts say 2027-01-14" in n for n in ft.notes)


def test_a_model_without_a_job_and_an_unknown_model(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    stub, _ = openai_org
    stub.add_model("ft:gpt-4o-2024-08-06:other-org::zz9", owned_by="org-other")
    models = {m.model: m for m in _inventory(ws, download=False).models}
    assert any("no fine-tuning job" in n for n in models["ft:gpt-4o-2024-08-06:other-org::zz9"].notes)
    with pytest.raises(ToolError) as err:
        _inventory(ws, model="ft:gpt-4o-mini-2024-07-18:nobody::none")
    assert err.value.code == "unknown_model"


def test_from_a_local_file_without_any_call(ws: Workspace, openai_org: tuple[ProviderStub, str]) -> None:
    stub, model = openai_org
    (ws.root / "train.jsonl").write_bytes(PIRATE.read_bytes())
    out = _inventory(ws, model=model, training_file="train.jsonl")
    assert out.source == "local" and stub.requests == []
    assert out.models[0].training_file == "train.jsonl" and out.models[0].serving_until is not None
    with pytest.raises(ToolError) as err:
        _inventory(ws, training_file="train.jsonl")
    assert err.value.code == "missing_model"


def test_after_the_end_the_model_is_listed_as_ended(
    ws: Workspace, openai_org: tuple[ProviderStub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-20")
    [ft] = _inventory(ws, download=False).models
    assert ft.status == "ended" and ft.days_left == -6
    assert any("stopped serving on 2027-01-14" in n for n in ft.notes)
    assert _inventory(ws, download=False).document().status == "problems"


def test_without_a_key(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ToolError) as err:
        _inventory(ws)
    assert err.value.code == "missing_api_key"
