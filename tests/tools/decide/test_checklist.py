from __future__ import annotations

import json

import pytest

from tools.core import registry
from tools.core.errors import ToolError
from tools.core.voice import speaking
from tools.core.workspace import Workspace
from tools.decide.checklist import questions


def test_answers_accumulate_and_the_next_question_follows(ws: Workspace) -> None:
    first = registry.call("record_answers", {"failure_mode": "style"}, workspace=ws)
    assert first.answered == ["failure_mode"] and not first.complete
    assert first.next_question == questions()[1].ask
    state = registry.call(
        "record_answers",
        {
            "quality_examples": 196,
            "monthly_requests": 150000,
            "privacy": "unknown",
            "training_budget_usd": 300,
            "monthly_inference_budget_usd": 1500,
        },
        workspace=ws,
    )
    assert state.complete and state.open_core == []
    assert state.answers.failure_mode == "style" and state.answers.privacy == "unknown"
    saved = json.loads((ws.state_dir / "checklist.json").read_text())
    assert saved["quality_examples"] == 196


def test_null_keeps_earlier_answers_and_reset_forgets(ws: Workspace) -> None:
    registry.call("record_answers", {"failure_mode": "format"}, workspace=ws)
    kept = registry.call("record_answers", {"failure_mode": None, "region": "eu"}, workspace=ws)
    assert kept.answers.failure_mode == "format" and kept.answers.region == "eu"
    fresh = registry.call("record_answers", {"reset": True, "monthly_requests": 10}, workspace=ws)
    assert fresh.answered == ["monthly_requests"]


@pytest.mark.parametrize("args", [{"failure_mode": "vibes"}, {"quality_examples": -5}, {"deadline": "soon"}])
def test_bad_answers_are_refused(ws: Workspace, args: dict) -> None:
    with pytest.raises(ToolError) as info:
        registry.call("record_answers", args, workspace=ws)
    assert info.value.code == "invalid_arguments"


def test_corrupt_state_file_is_reported_with_its_path_and_the_way_out(ws: Workspace) -> None:
    ws.state_dir.mkdir()
    (ws.state_dir / "checklist.json").write_text("{broken")
    with pytest.raises(ToolError) as info:
        registry.call("record_answers", {"region": "eu"}, workspace=ws)
    assert info.value.code == "checklist_corrupt"
    assert info.value.message.startswith(".finetune/checklist.json: not valid JSON (line 1, column 2")
    assert "reset=true" in (info.value.hint or "")
    with speaking("cli"), pytest.raises(ToolError) as info:
        registry.call("record_answers", {"region": "eu"}, workspace=ws)
    assert "`finetune chat --reset`" in (info.value.hint or "") and "reset=true" not in (info.value.hint or "")
    fresh = registry.call("record_answers", {"reset": True}, workspace=ws)
    assert fresh.answered == [] and json.loads((ws.state_dir / "checklist.json").read_text())["failure_mode"] is None


def test_contradictory_or_invalid_state_is_repaired_and_said(ws: Workspace) -> None:
    """The state a session before the fix could leave: a field both answered and unknown, plus a bad value."""
    ws.state_dir.mkdir()
    damaged = {"quality_examples": 800, "monthly_requests": -3, "colour": "blue", "unknown": ["quality_examples", "x"]}
    (ws.state_dir / "checklist.json").write_text(json.dumps(damaged))
    state = registry.call("record_answers", {}, workspace=ws)
    assert state.answers.quality_examples == 800 and state.answers.unknown is None
    assert state.answers.monthly_requests is None
    repairs = " | ".join(state.repairs)
    assert "quality_examples was both answered (800) and unknown; kept the answer" in repairs
    assert "monthly_requests=-3 is not a valid answer" in repairs and "colour is not a checklist question" in repairs
    assert (ws.state_dir / "checklist.json.damaged").read_text() == json.dumps(damaged)
    again = registry.call("record_answers", {}, workspace=ws)
    assert again.repairs == [] and again.answers.quality_examples == 800
    decision = registry.call("decide_fit", again.answers.model_dump(exclude_none=True), workspace=ws)
    assert decision.recommendation


def test_a_later_answer_replaces_the_earlier_one_either_way(ws: Workspace) -> None:
    registry.call("record_answers", {"quality_examples": 800, "privacy": "none"}, workspace=ws)
    state = registry.call("record_answers", {"unknown": ["quality_examples"]}, workspace=ws)
    assert state.answers.quality_examples is None and state.answers.unknown == ["quality_examples"]
    assert state.replaced == ["quality_examples: 800 -> unknown"]
    saved = json.loads((ws.state_dir / "checklist.json").read_text())
    assert saved["quality_examples"] is None and saved["unknown"] == ["quality_examples"]
    state = registry.call("record_answers", {"quality_examples": 200, "privacy": "health"}, workspace=ws)
    assert state.answers.unknown is None and state.answers.quality_examples == 200
    assert state.replaced == ["quality_examples: unknown -> 200", "privacy: none -> health"]
    same = registry.call("record_answers", {"privacy": "health"}, workspace=ws)
    assert same.replaced == []
    with pytest.raises(ToolError) as info:
        registry.call("record_answers", {"privacy": "none", "unknown": ["privacy"]}, workspace=ws)
    assert info.value.code == "contradicting_answers"


def test_read_reference_file_and_section(ws: Workspace) -> None:
    whole = registry.call("read_reference", {"file": "README.md"}, workspace=ws)
    assert "reference/" in whole.text and not whole.truncated
    part = registry.call("read_reference", {"file": "README.md", "section": "reference/"}, workspace=ws)
    assert part.text.startswith("# reference/")
    with pytest.raises(ToolError) as info:
        registry.call("read_reference", {"file": "README.md", "section": "No such heading"}, workspace=ws)
    assert info.value.code == "section_not_found"
    with pytest.raises(ToolError) as info:
        registry.call("read_reference", {"file": "../SKILL.md"}, workspace=ws)
    assert info.value.code == "reference_not_found"


def test_dont_know_counts_as_answered(ws: Workspace) -> None:
    state = registry.call("record_answers", {"unknown": ["quality_examples", "monthly_requests"]}, workspace=ws)
    assert "quality_examples" in state.answered and "quality_examples" not in state.open_core
    later = registry.call("record_answers", {"quality_examples": 80}, workspace=ws)
    assert later.answers.quality_examples == 80 and later.answers.unknown == ["monthly_requests"]
    with pytest.raises(ToolError) as info:
        registry.call("record_answers", {"unknown": ["favourite_colour"]}, workspace=ws)
    assert info.value.code == "unknown_field"
