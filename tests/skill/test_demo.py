from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill.cli import app
from skill.demo import planted_defects
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # the whole demo once per suite (about 20 s alone, minutes on a loaded machine)

runner = CliRunner()


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_demo_writes_the_report_and_leaves_examples_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = _digest(REPO / "examples")
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    report = Path(data["report"])
    assert report == (tmp_path / "finetune-demo" / "report.md").resolve()
    text = report.read_text()
    assert text.startswith("# finetune demo: Juniper Outdoor")
    assert all(s["status"] not in ("failed", "declined") for s in data["sections"]), data["sections"]
    assert "chain intact" in text
    titles = {s["title"] for s in data["sections"]}
    expected = {
        "Decision",
        "Dataset validation",
        "Personal data and secrets",
        "Compliance",
        "Where to train",
        "Cost and break-even",
        "Training configuration",
        "Train / validation / test split",
        "Dated facts",
        "Training launch",
        "Training run",
        "Diagnosis of the demo's own run",
        "Fine-tuned vs base",
    }
    assert expected <= titles, titles
    assert "## Verdict" in text
    own_run = next(s for s in data["sections"] if s["title"] == "Diagnosis of the demo's own run")
    assert "![loss curves](runs/" in own_run["body"]
    defects = next(s for s in data["sections"] if s["title"] == "Planted defects found")
    planted = len(planted_defects(REPO / "examples" / "DEFECTS.md"))
    assert planted == 12 and defects["headline"].startswith(f"{planted} of {planted}"), defects
    assert _digest(REPO / "examples") == before


def test_the_demo_rewrites_a_folder_it_made(tmp_path: Path) -> None:
    """Its own marker makes a folder reusable (checked on the folder step alone: the suite runs the demo once)."""
    from skill.demo import MARKER, prepare_workspace

    out = tmp_path / "demo-out"
    out.mkdir()
    (out / MARKER).write_text("made by finetune demo\n")
    (out / "stale.txt").write_text("old run")
    ws = prepare_workspace(out, REPO / "examples")
    assert not (out / "stale.txt").exists() and (ws.root / "examples" / "train.jsonl").is_file()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    result = runner.invoke(app, ["demo", "--out", "mine"])
    assert result.exit_code == 2 and "demo_out_not_empty" in result.stderr
    assert (tmp_path / "mine" / "keep.txt").read_text() == "precious"


def test_examples_are_reproducible_from_their_generator() -> None:
    import runpy

    module = runpy.run_path(str(REPO / "examples" / "make_examples.py"))
    train, evals, _ = module["build"]()
    assert (REPO / "examples" / "train.jsonl").read_text() == "\n".join(train) + "\n"
    assert (REPO / "examples" / "eval.jsonl").read_text() == "\n".join(evals) + "\n"
    assert 180 <= len(train) <= 220


def test_the_style_sets_are_reproducible_and_hold_out_whole_tasks() -> None:
    """The real-model demo's data: the held-out questions are about tasks no training line covers."""
    import runpy

    module = runpy.run_path(str(REPO / "examples" / "make_examples.py"))
    train, evals = module["style_sets"]()
    assert (REPO / "examples" / "style_train.jsonl").read_text() == "\n".join(train) + "\n"
    assert (REPO / "examples" / "style_eval.jsonl").read_text() == "\n".join(evals) + "\n"
    assert (len(train), len(evals)) == (60, 24)
    held = module["STYLE_HELD_OUT"]
    openings = {task: spec[1].split("{item}")[0] for task, spec in module["STYLE_TASKS"].items()}
    answers = [json.loads(x)["messages"][2]["content"] for x in train]
    for task in held:
        assert not any(a.startswith(openings[task]) for a in answers), f"{task} leaked into training"
