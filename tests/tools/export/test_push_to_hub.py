"""push_to_hub through the real huggingface_hub client against a local stub of the Hub API (tests/support/hub_stub):
a dry run without confirm, the regular upload path, the Git LFS path, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.documents import assert_document_renders
from tests.support.hub_stub import HubServer
from tools.core import registry
from tools.core.errors import ToolError
from tools.core.workspace import Workspace


@pytest.fixture
def folder(ws: Workspace) -> Path:
    """An export folder as export_model writes one (small files stand in for the weights)."""
    root = ws.root / "exports" / "run1" / "merged-fp32"
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (root / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (root / "README.md").write_text("---\nlibrary_name: transformers\n---\n# run1\n")
    (root / "parity.jsonl").write_text('{"prompt": 0, "reference": {"text": "a customer\'s question"}}\n')
    (root / ".hidden").write_text("x")
    return root


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test session runs with HF_HUB_OFFLINE=1; an upload test lifts it for the stub on 127.0.0.1 only."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_stub_token_for_tests")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def _call(ws: Workspace, **args: object) -> object:
    return registry.call("push_to_hub", {"repo_id": "me/support-bot", **args}, workspace=ws)


def test_without_confirm_it_only_says_what_it_would_upload(ws: Workspace, folder: Path) -> None:
    with HubServer() as hub:
        out = _call(ws, folder="exports/run1/merged-fp32", endpoint=hub.endpoint)
        assert hub.state.requests == []
    assert not out.uploaded and "would upload 3 files" in out.message and "third party" in out.message
    assert {f.path for f in out.files} == {"README.md", "config.json", "model.safetensors"}
    assert any(s.startswith("parity.jsonl") and "eval set" in s for s in out.skipped)
    assert any(s.startswith(".hidden") for s in out.skipped)
    assert_document_renders(ws, "push_to_hub", out)
    assert out.document().headline.startswith("dry run: would upload 3 files")


def test_confirm_uploads_through_huggingface_hub(ws: Workspace, folder: Path, online: None) -> None:
    with HubServer() as hub:
        out = _call(ws, folder="exports/run1/merged-fp32", endpoint=hub.endpoint, confirm=True)
        repo = hub.state.repos["me/support-bot"]
        for name in ("model.safetensors", "config.json", "README.md"):
            assert repo.files[name] == (folder / name).read_bytes()
        assert "parity.jsonl" not in repo.files and ".hidden" not in repo.files
        assert repo.private is True and repo.commits[0]["summary"].startswith("finetune-skill export")
        auth = [h.get("authorization") or h.get("Authorization") for m, p, h in hub.state.requests if m == "POST"]
        assert auth and all(a == "Bearer hf_stub_token_for_tests" for a in auth)
    assert out.uploaded and out.commit_url and "/me/support-bot/commit/" in out.commit_url
    assert_document_renders(ws, "push_to_hub", out)


def test_the_lfs_path_uploads_the_weights_byte_for_byte(
    ws: Workspace, folder: Path, online: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    with HubServer(lfs_patterns=("*.safetensors",)) as hub:
        _call(ws, folder="exports/run1/merged-fp32", endpoint=hub.endpoint, confirm=True, private=False)
        repo = hub.state.repos["me/support-bot"]
        assert repo.files["model.safetensors"] == (folder / "model.safetensors").read_bytes()
        assert len(hub.state.lfs) == 1 and repo.private is False
        assert any(p.endswith(".git/info/lfs/objects/batch") for _, p, _ in hub.state.requests)


def test_refusals_are_clear(ws: Workspace, folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no stored token either
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ToolError) as exc:
        _call(ws, repo_id="not a repo", folder="exports/run1/merged-fp32")
    assert exc.value.code == "bad_repo_id"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ToolError) as exc:
        _call(ws, folder="exports/run1/merged-fp32", confirm=True, endpoint="http://127.0.0.1:9")
    assert exc.value.code == "missing_api_key" and "HF_TOKEN" in exc.value.message
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    with pytest.raises(ToolError) as exc:
        _call(ws, folder="exports/run1/merged-fp32", confirm=True, endpoint="http://127.0.0.1:9")
    assert exc.value.code == "hub_offline"  # HF_HUB_OFFLINE is honoured, not bypassed
    with pytest.raises(ToolError) as exc:
        _call(ws, confirm="yes", folder="exports/run1/merged-fp32")
    assert exc.value.code == "invalid_arguments"
    with pytest.raises(ToolError) as exc:
        _call(ws)
    assert exc.value.code == "no_input"


def test_an_unreachable_hub_is_a_clear_error(ws: Workspace, folder: Path, online: None) -> None:
    with HubServer() as hub:
        endpoint = hub.endpoint  # a port that was just serving and is now closed
    with pytest.raises(ToolError) as exc:
        _call(ws, folder="exports/run1/merged-fp32", confirm=True, endpoint=endpoint)
    assert exc.value.code == "hub_unreachable" and endpoint in exc.value.message
