"""The offline guide in-process (skill/guide/): how it reads answers, its commands, and what it says back."""

from __future__ import annotations

from typing import Any

import pytest

from skill.agent import Agent
from skill.guide import OPENING, GuideBackend, understand
from tools.core.voice import speaking
from tools.core.workspace import Workspace
from tools.decide.checklist import questions


def _q(field: str) -> Any:
    return next(q for q in questions() if q.field == field)


@pytest.mark.parametrize(
    "text, field, value",
    [
        ("JSON keeps breaking", "failure_mode", "format"),
        ("the tone sounds like a robot", "failure_mode", "style"),
        ("150k a month", "monthly_requests", 150_000),
        ("two to three thousand a day", "monthly_requests", 60_875),
        ("$2,500", "training_budget_usd", 2500.0),
        ("patient records, HIPAA", "privacy", "health"),
        ("it must stay on our own servers", "privacy", "must_stay_on_premises"),
        ("no personal data at all", "privacy", "none"),
        ("yes, monthly", "requirements_change_often", True),
        ("not yet", "eval_set_in_place", False),
        ("a couple hundred", "quality_examples", 200),
    ],
)
def test_understand(text: str, field: str, value: Any) -> None:
    understood = understand(_q(field), text)
    assert understood is not None and (understood.field, understood.value) == (field, value)


def test_dont_know_and_unclear() -> None:
    assert understand(_q("privacy"), "not sure").unknown  # type: ignore[union-attr]
    assert understand(_q("quality_examples"), "many") is None
    euros = understand(_q("training_budget_usd"), "a few hundred euros")
    assert euros is not None and 150 < euros.value < 400 and "European Central Bank rate of" in euros.note


class Chat:
    def __init__(self, ws: Workspace, backend: GuideBackend | None = None) -> None:
        self.agent = Agent(backend or GuideBackend(), ws)

    def __call__(self, text: str) -> str:
        with speaking("chat"):
            return self.agent.send(text).text


def test_commands_lead_the_walk(ws: Workspace) -> None:
    chat = Chat(ws)
    opening = chat(OPENING)
    assert opening.startswith("Hello. I am the fine-tuning guide") and opening.endswith("latency, other)")
    assert "start over" in chat("help") and chat("help").endswith("latency, other)")
    assert "Why I ask about failure_mode: The kind of failure" in chat("why")
    chat("style")
    why = chat("why?")
    assert "fewer than 50 good examples" in why and "under 10, no managed provider" in why, why
    assert "I did not catch that as a number. For example: `about 300`" in chat("loads")
    second = chat("still loads")
    assert "I could not read that either, so I recorded examples as unknown" in second
    assert "That replaces" in chat("change examples to 300")
    listed = chat("answers")
    assert "quality_examples: 300 checked examples" in listed and "failure_mode: the style or tone is off" in listed
    back = chat("back")
    assert "Back to the question about quality_examples (your answer: 300 checked examples)" in back
    assert "Understood: 400 checked examples" in chat("400")
    assert chat("start over").startswith("Starting over: every earlier answer is forgotten.")
    assert (ws.state_dir / "checklist.json").read_text().count("null") >= 13


def test_a_damaged_checklist_is_reported_and_start_over_fixes_it(ws: Workspace) -> None:
    ws.state_dir.mkdir()
    (ws.state_dir / "checklist.json").write_text("{oops")
    chat = Chat(ws)
    opening = chat(OPENING)
    assert "record_answers could not run: .finetune/checklist.json: not valid JSON (line 1" in opening
    assert "To fix it: type `start over` to begin the checklist again" in opening
    assert chat("start over").startswith("Starting over")
    assert "Understood: the output format fails." in chat("format")


def test_a_question_off_the_walk_is_answered_from_the_reference_then_the_walk_resumes(ws: Workspace) -> None:
    chat = Chat(ws)
    chat(OPENING)
    answer = chat("how big should the eval set be?")
    assert answer.startswith("From the reference (evaluation.md § 2. The eval set):")
    assert answer.endswith(
        "Back to the checklist: " + questions()[0].ask + " (format, style, knowledge, cost, latency, other)"
    )
    nothing = chat("what is the weather in Paris tomorrow?")
    assert nothing.startswith("The reference files have nothing on that, so I will not guess.")


def test_decide_reads_a_damaged_checklist_and_says_what_it_repaired(in_ws: Workspace) -> None:
    from typer.testing import CliRunner

    from skill.cli import app

    in_ws.state_dir.mkdir()
    checklist = in_ws.state_dir / "checklist.json"
    checklist.write_text('{"failure_mode": "style", "quality_examples": 300, "unknown": ["quality_examples"]}')
    result = CliRunner().invoke(app, ["decide"])
    assert result.exit_code == 0, result.output
    assert "repaired .finetune/checklist.json: quality_examples was both answered (300) and unknown" in " ".join(
        result.stderr.split()
    )
    assert "Decision:" in result.stdout
    checklist.write_text("{not json")
    broken = CliRunner().invoke(app, ["decide"])
    assert broken.exit_code != 0 and ".finetune/checklist.json: not valid JSON" in broken.stderr
    assert "`finetune chat --reset`" in " ".join(broken.stderr.split())
