"""One source for each next-step message, rendered per surface (tools/core/voice.py, prompts/messages.yaml)."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tests.conftest import REPO
from tools.core import registry
from tools.core.voice import SURFACES, catalogue, fields_of, say, speaking
from tools.core.workspace import Workspace


def test_every_message_has_every_surface_and_renders_from_one_set_of_fields() -> None:
    for key, variants in catalogue().items():
        assert set(variants) == set(SURFACES), key
        fields = {name: f"<{name}>" for text in variants.values() for name in fields_of(text)}
        assert say(key, "agent", **fields) != say(key, "cli", **fields), (
            f"{key}: agents and the CLI need their own words"
        )
    assert "confirm=true" in say("confirm_to_start", tool="t", command="c", chat="x", action="start")
    with speaking("cli"):
        assert "--confirm" in say("confirm_to_start", tool="t", command="finetune train", chat="x", action="start")
        assert "`finetune runs status r1`" in say("watch_run", run_id="r1")
    assert "run_status" in say("watch_run", run_id="r1")


@pytest.mark.slow
def test_the_same_dry_run_speaks_cli_on_the_command_line_and_tool_names_to_agents(in_ws: Workspace) -> None:
    shutil.copy(REPO / "examples" / "train.jsonl", in_ws.root / "train.jsonl")
    cli = CliRunner().invoke(app, ["train", "train.jsonl", "--model", "tiny-random-llama", "--max-steps", "4"])
    assert cli.exit_code == 0, cli.output
    flat = " ".join(cli.stdout.split())
    assert "Run `finetune train` again with --confirm to start." in flat and "confirm=true" not in flat
    agent = registry.call(
        "launch_lora", {"data": "train.jsonl", "model": "tiny-random-llama", "max_steps": 4}, workspace=in_ws
    )
    assert "Call launch_lora again with confirm=true to start." in agent.message  # type: ignore[attr-defined]
    assert "--confirm" not in agent.message  # type: ignore[attr-defined]
