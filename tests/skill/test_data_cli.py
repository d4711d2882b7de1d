"""`finetune validate`, `convert` and `split`: exit codes, --json, no tracebacks."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from skill.cli import app
from tests.support.format_samples import chat, write_jsonl
from tools.core.workspace import Workspace

runner = CliRunner()


def test_validate_exit_codes_and_json(in_ws: Workspace) -> None:
    write_jsonl(in_ws.root / "good.jsonl", [chat(i) for i in range(12)])
    ok = runner.invoke(app, ["validate", "good.jsonl"])
    assert ok.exit_code == 0, ok.output
    assert "Dataset validation: 0 errors" in ok.stdout and "Tokens per example" in ok.stdout
    assert "file: .finetune/reports/good.validation.md" in ok.stdout
    write_jsonl(in_ws.root / "bad.jsonl", [chat(i) for i in range(12)] + ["{nope"])
    bad = runner.invoke(app, ["validate", "bad.jsonl", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["findings"][0]["line"] == 13
    missing = runner.invoke(app, ["validate", "missing.jsonl"])
    assert missing.exit_code == 2 and "file_not_found" in missing.stderr and "Traceback" not in missing.output
    (in_ws.root / "d").mkdir()
    assert runner.invoke(app, ["validate", "d"]).exit_code == 2


def test_convert_and_split(in_ws: Workspace) -> None:
    (in_ws.root / "qa.csv").write_text("q,a\n" + "".join(f"question {i},answer {i}\n" for i in range(20)))
    conv = runner.invoke(
        app, ["convert", "qa.csv", "--out", "qa.jsonl", "--map", "prompt=q,completion=a", "--to", "bedrock_nova"]
    )
    assert conv.exit_code == 0, conv.output
    assert "wrote qa.jsonl" in conv.stdout
    assert runner.invoke(app, ["prepare", "qa.csv", "--out", "qa2.jsonl", "--map", "broken"]).exit_code == 2
    sp = runner.invoke(app, ["split", "qa.jsonl", "--json"])
    assert sp.exit_code == 0, sp.output
    parts = json.loads(sp.stdout)["parts"]
    assert sum(p["examples"] for p in parts) == 20
    assert runner.invoke(app, ["split", "qa.jsonl", "--ratios", "a,b"]).exit_code == 2
