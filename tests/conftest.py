from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.core.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh workspace root for one test."""
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root)


@pytest.fixture
def in_ws(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The fresh workspace, also made the current directory (as the CLI would run)."""
    monkeypatch.chdir(ws.root)
    monkeypatch.delenv("FINETUNE_WORKSPACE", raising=False)
    return ws


@pytest.fixture(autouse=True)
def _audit_keys(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit keys go to a folder of the test session, never to the person's own configuration."""
    monkeypatch.setenv("FINETUNE_AUDIT_KEYS", str(tmp_path_factory.getbasetemp() / "audit-keys"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: hub libraries are told so, and API keys are absent."""
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(key, "1")
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(REPO / ".venv" / "tiktoken-cache"))


@pytest.fixture
def test_tools() -> Iterator[list[str]]:
    """The test-only tools of tests/support/tooldefs.py, registered for one test and removed after it."""
    from tests.support import tooldefs
    from tools.core import registry

    names = tooldefs.register()
    try:
        yield names
    finally:
        for name in names:
            registry.unregister(name)
