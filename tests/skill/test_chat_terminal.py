"""`finetune chat` in a real pseudo-terminal (pexpect), as three people would use it, asserting what is printed.

1. A full walk in free text with an off-topic question on the way.
2. A second session in the same folder that changes an earlier answer (then `finetune decide` and `--reset`).
3. A person who asks to validate and scan their file mid-walk (a real public dataset, tests/data/chat), then
   asks to train and declines at the confirmation prompt.

The CLI runs as a subprocess of the installed `finetune` script with NO_COLOR; rich wraps long lines, so each
exchange is read up to the next `you:` prompt and compared with its whitespace collapsed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tools.core.workspace import Workspace

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.slow

FINETUNE = Path(sys.executable).parent / "finetune"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DATASET = REPO / "tests" / "data" / "chat" / "cheackcz_jecnabot_training_data.jsonl"


def _flat(text: str) -> str:
    return " ".join(ANSI.sub("", text).replace("\r", "").split())


class Session:
    """One `finetune chat` process; ``say`` sends a line and returns what was printed up to the next prompt."""

    def __init__(self, root: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(NO_COLOR="1", TERM="dumb", COLUMNS="100", FINETUNE_WORKSPACE=str(root))
        self.child = pexpect.spawn(
            str(FINETUNE), ["chat", "--backend", "guide", *args], cwd=str(root), env=env, encoding="utf-8", timeout=180
        )
        self.opening = self._until_prompt()

    def _until_prompt(self) -> str:
        self.child.expect(r"you: ")
        return _flat(self.child.before)

    def say(self, line: str) -> str:
        self.child.sendline(line)
        return self._until_prompt()

    def confirm(self, line: str, answer: str) -> tuple[str, str]:
        """Send ``line``, which must lead to the confirmation prompt; answer it; return both parts."""
        self.child.sendline(line)
        self.child.expect(r"Allow it\?")
        asked = _flat(self.child.before)
        self.child.sendline(answer)
        return asked, self._until_prompt()

    def leave(self, how: str = "exit") -> str:
        if how == "ctrl-d":
            self.child.sendeof()
        else:
            self.child.sendline(how)
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0, _flat(self.child.before)
        return _flat(self.child.before)


def _checklist(ws: Workspace) -> dict:
    return json.loads((ws.state_dir / "checklist.json").read_text())


def test_full_walk_in_free_text_with_an_off_topic_question(ws: Workspace) -> None:
    chat = Session(ws.root)
    assert "I am the fine-tuning guide" in chat.opening and "I will ask 9 short questions" in chat.opening
    assert chat.opening.endswith("(format, style, knowledge, cost, latency, other)")

    seen = chat.say("the JSON it returns keeps breaking our parser")
    assert "Understood: the output format fails." in seen
    assert seen.endswith("How many good, checked examples of the input and the ideal answer do you have?")

    seen = chat.say("what is the difference between LoRA and QLoRA?")
    assert re.search(r"From the reference \(\w[\w-]*\.md § [^)]+\):", seen), seen
    assert "QLoRA" in seen
    assert seen.endswith(
        "Back to the checklist: How many good, checked examples of the input and the ideal answer do you have?"
    )

    assert 'Understood: 200 checked examples (from "a couple hundred").' in chat.say("a couple hundred")
    seen = chat.say("10-20k a month")
    assert "Understood: 10,000 to 20,000 requests a month" in seen and "I recorded the lower end, 10,000" in seen
    assert "Understood: no personal data" in chat.say("no personal data, it is all public documentation")
    seen = chat.say("hmm, lots")
    assert "I did not catch that as an amount of money. For example: `$500`" in seen
    seen = chat.say("a few hundred euros")
    assert re.search(r"Understood: \$\d+ to \$\d+ for training \(from \"a few hundred euros\"\)", seen), seen
    assert re.search(r"200 EUR is about \$\d+ at the European Central Bank rate of \d{4}-\d\d-\d\d", seen), seen
    assert "Understood: $3,000 a month for inference" in chat.say("$3,000 a month")
    assert "Understood: the requirements are stable." in chat.say("no, they are stable")
    assert "Understood: a held-out eval set is in place." in chat.say("yes, 150 held-out cases")

    seen = chat.say("about 1,800 tokens")
    assert "All questions are answered. My verdict: Recommendation: fine-tune (LoRA first)" in seen
    assert "Rules that fired: * format_style -> fine_tune" in seen and "What would change it:" in seen
    assert "To go on I need your training data" in seen
    assert "Goodbye." in chat.leave("exit")

    saved = _checklist(ws)
    assert saved["failure_mode"] == "format" and saved["quality_examples"] == 200
    assert saved["monthly_requests"] == 10000 and saved["current_prompt_tokens"] == 1800
    assert 200 < saved["training_budget_usd"] < 300 and saved["unknown"] is None


def test_second_session_changes_an_answer(ws: Workspace) -> None:
    first = Session(ws.root)
    first.say("the tone is off, it sounds like a robot")
    first.say("about 800")
    first.say("200k a month")
    assert "Goodbye" in first.leave("ctrl-d")

    second = Session(ws.root)
    assert "Welcome back: 3 answers are recorded from an earlier session" in second.opening
    assert "800 checked examples" in second.opening
    assert second.opening.endswith("(none, eu_personal_data, health, must_stay_on_premises)")
    seen = second.say("change the examples")
    assert "Back to the question about quality_examples (your answer: 800 checked examples)." in seen
    seen = second.say("actually I don't know")
    assert "Noted: examples is unknown." in seen and "That replaces your earlier answer (800)." in seen
    assert seen.endswith("(none, eu_personal_data, health, must_stay_on_premises)")
    saved = _checklist(ws)
    assert saved["quality_examples"] is None and saved["unknown"] == ["quality_examples"]

    seen = second.say("back")
    assert "Back to the question about monthly_requests (your answer: 200,000 requests a month)." in seen
    assert "Understood: 150,000 requests a month" in second.say("150k")
    for answer in ("customer emails and names, GDPR", "$500", "$2,000", "no", "yes"):
        second.say(answer)
    seen = second.say("2k")
    assert "My verdict: Recommendation:" in seen and "1 core answer(s) unknown: quality_examples" in seen
    second.leave("quit")

    from typer.testing import CliRunner

    from skill.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["--workspace", str(ws.root), "decide"])
    assert result.exit_code == 0, result.output
    assert "Decision:" in result.stdout and "quality_examples" in result.stdout

    third = Session(ws.root, "--reset")
    assert "Welcome back" not in third.opening
    third.leave()
    assert _checklist(ws)["monthly_requests"] is None


def test_validate_and_scan_a_file_mid_walk_then_decline_training(ws: Workspace) -> None:
    shutil.copy(DATASET, ws.root / "support.jsonl")
    chat = Session(ws.root)
    chat.say("the answers come out in the wrong format")
    seen = chat.say("please validate support.jsonl")
    validation = json.loads((ws.state_dir / "reports" / "support.validation.json").read_text())
    file = validation["files"][0]
    assert (
        f"support.jsonl: {file['lines']} lines, {file['examples']} usable examples ({file['format']}); "
        f"{file['errors']} errors, {file['warnings']} warnings." in seen
    )
    assert "Full report: .finetune/reports/support.validation.md" in seen
    assert seen.endswith(
        "Back to the checklist: How many good, checked examples of the input and the ideal answer do you have?"
    )

    seen = chat.say("scan it for PII")
    report = json.loads((ws.state_dir / "reports" / "support.pii.json").read_text())
    assert report["found_total"] > 0
    assert f"{report['found_total']} findings on {report['lines_with_findings']} lines:" in seen
    first = report["findings"][0]
    assert f"line {first['line']} ({first['role']}): {first['entity']} {first['sample']}" in seen
    top = report["entities"][0]
    assert f"{top['entity']} ({top['label']}): {top['count']} on {top['lines']} lines" in seen
    assert "Redacted copy support.redacted.jsonl (pseudonym)" in seen
    assert (ws.root / "support.jsonl").read_bytes() == DATASET.read_bytes(), "the input is never modified"

    assert "Understood: 98 checked examples" in chat.say("98")
    asked, seen = chat.confirm("train it", "n")
    assert "Plan: tiny-random-llama lora" in asked or "launch_lora wants to run" in asked
    assert "Nothing ran: you declined launch_lora." in seen
    assert not (ws.root / "runs").exists() or not any((ws.root / "runs").iterdir())
    assert "Goodbye" in chat.leave()
