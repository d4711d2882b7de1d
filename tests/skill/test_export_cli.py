"""`finetune export` and `finetune try` on the command line, on a real trained run (tests/support/export_run)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tests.support.export_run import TrainedRun, trained_run

pytestmark = pytest.mark.slow
runner = CliRunner()
FAST = ["--parity-prompts", "2", "--max-new-tokens", "8"]


@pytest.fixture
def run(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> TrainedRun:
    trained = trained_run(tmp_path_factory)
    monkeypatch.chdir(trained.ws.root)
    monkeypatch.delenv("FINETUNE_WORKSPACE", raising=False)
    return trained


def test_export_merged_prints_the_parity_verdict_and_exits_0(run: TrainedRun) -> None:
    human = runner.invoke(app, ["export", run.run_id, "--to", "merged", "--out", "exports/cli-merged", *FAST])
    assert human.exit_code == 0, human.output
    assert "parity pass" in human.stdout and "model card" in human.stdout
    result = runner.invoke(app, ["export", run.run_id, "--to", "merged", "--out", "exports/cli-json", *FAST, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["parity"]["verdict"] == "pass" and data["out_dir"] == "exports/cli-json"


def test_a_failed_parity_check_exits_1_and_names_the_cause(run: TrainedRun, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.export.merge as merge

    monkeypatch.setattr(merge, "stop_token_ids", lambda src, tok: [256])  # an exporter that loses the EOS
    result = runner.invoke(app, ["export", run.run_id, "--to", "merged", "--out", "exports/cli-broken", *FAST])
    assert result.exit_code == 1, result.output
    assert "parity fail" in result.stdout and "likely cause (eos)" in result.stdout


def test_the_precision_rule_is_a_clear_refusal(run: TrainedRun) -> None:
    result = runner.invoke(app, ["export", run.run_id, "--to", "gguf", "--quant", "q8_0"])
    assert result.exit_code == 2
    assert "precision_change_refused" in result.stderr and "--allow-precision-change" in result.stderr
    assert "Traceback" not in result.output


def test_hub_without_confirm_is_a_dry_run(run: TrainedRun) -> None:
    result = runner.invoke(app, ["export", run.run_id, "--to", "hub", "--repo-id", "me/support-bot"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout and "adapter_model.safetensors" in result.stdout


def test_try_answers_side_by_side(run: TrainedRun) -> None:
    result = runner.invoke(app, ["try", run.run_id, "-p", "Where is my order?", "--max-new-tokens", "8"])
    assert result.exit_code == 0, result.output
    assert "base (tiny-random-llama)" in result.stdout and "fine-tuned (run" in result.stdout
    session = runner.invoke(app, ["try", run.run_id, "--max-new-tokens", "8"], input="Where is my order?\nquit\n")
    assert session.exit_code == 0, session.output
    assert "you>" in session.stdout and "fine-tuned" in session.stdout and "bye" in session.stdout
    as_json = runner.invoke(app, ["try", run.run_id, "-p", "hi", "--max-new-tokens", "4", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)[0]["prompt"] == "hi"
