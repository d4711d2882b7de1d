"""`finetune train` and `finetune runs ...` on the CLI (the training itself is tested in test_launch_lora)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from skill.cli import app
from tools.core.workspace import Workspace

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "train.jsonl"


def test_train_without_confirm_is_a_dry_run(in_ws: Workspace) -> None:
    shutil.copy(EXAMPLES, in_ws.root / "train.jsonl")
    result = runner.invoke(app, ["train", "train.jsonl", "--model", "tiny-random-llama", "--max-steps", "12", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["started"] is False and data["estimated_steps"] == 12 and data["plan"]["max_steps"] == 12
    human = runner.invoke(app, ["train", "train.jsonl", "--max-steps", "12"])
    assert human.exit_code == 0 and "dry run" in human.stdout and "confirm" in human.stdout
    assert not (in_ws.root / "runs").exists()


def test_runs_commands_on_an_empty_workspace(in_ws: Workspace) -> None:
    listing = runner.invoke(app, ["runs", "list"])
    assert listing.exit_code == 0 and "no runs yet" in listing.stdout
    missing = runner.invoke(app, ["runs", "status", "nope"])
    assert missing.exit_code == 2 and "unknown_run" in missing.stderr
    bad = runner.invoke(app, ["train", "missing.jsonl", "--confirm"])
    assert bad.exit_code == 2 and "file_not_found" in bad.stderr


def test_runs_status_and_logs_of_a_finished_run(in_ws: Workspace) -> None:
    from tools.train.runs import update_status, write_json

    folder = in_ws.root / "runs" / "r1"
    folder.mkdir(parents=True)
    write_json(folder / "config.json", {"plan": {"base_model": "tiny-random-llama"}})
    update_status(
        folder,
        state="completed",
        pid=None,
        step=10,
        total_steps=10,
        latest={"step": 10, "loss": 3.5, "eval_loss": 3.6},
        diagnosis="no problems found",
    )
    (folder / "train.log").write_text("line one\nstep 10/10 loss 3.5\n")
    status = runner.invoke(app, ["runs", "status", "r1"])
    assert status.exit_code == 0 and "completed" in status.stdout and "3.5000" in status.stdout
    assert "no problems found" in status.stdout
    logs = runner.invoke(app, ["runs", "logs", "r1", "-n", "1"])
    assert logs.exit_code == 0 and "step 10/10" in logs.stdout and "line one" not in logs.stdout
    stop = runner.invoke(app, ["runs", "stop", "r1", "--wait", "0"])
    assert stop.exit_code == 0 and "already completed" in stop.stdout
    resume = runner.invoke(app, ["runs", "resume", "r1", "--confirm"])
    assert resume.exit_code == 2 and "run_completed" in resume.stderr


def test_train_preview_shows_what_is_trained_token_by_token(in_ws: Workspace) -> None:
    shutil.copy(EXAMPLES, in_ws.root / "train.jsonl")
    result = runner.invoke(app, ["train", "train.jsonl", "--preview", "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # the console wraps lines
    assert "Preflight (chatml)" in out and "193 of 193 assistant turns end with a stop token (<|im_end|>)" in out
    assert "trained spans between ⟦ and ⟧" in out and "- Juniper Support<|im_end|>⟧" in out
