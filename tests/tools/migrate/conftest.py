"""A stub OpenAI organisation with one fine-tune of gpt-4o-mini trained on a real public training file, the keys
and base URL pointing at it, and today's date pinned to 2026-12-04 (tools.knowledge.today's override)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.provider_stub import ProviderStub
from tools.core.workspace import Workspace
from tools.jobs import provider_jobs

DATA = Path(__file__).resolve().parents[2] / "data" / "openai_ft"
PIRATE = DATA / "pirate_training_set.jsonl"
BASE = "gpt-4o-mini-2024-07-18"
TODAY = "2026-12-04"


@pytest.fixture
def openai_org(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ProviderStub, str]]:
    """(the stub, the fine-tuned model's id)."""
    with ProviderStub() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
        monkeypatch.setenv("FINETUNE_TODAY", TODAY)
        monkeypatch.setitem(provider_jobs.settings(), "retry_base_s", 0.01)
        monkeypatch.setitem(provider_jobs.settings(), "max_retries", 1)
        server.add_model(BASE, shutdown_date="2027-01-14")
        model = server.add_finetune(BASE, "pirate", PIRATE.read_bytes(), n_epochs=2)
        yield server, model
