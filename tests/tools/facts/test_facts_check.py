"""facts check: on a fresh checkout it reports what is really stale (and nothing that only looks fresh or old),
words "closes to new jobs" apart from "serving ends", and lists unknown ends as their own kind."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tools.core.errors import ToolError
from tools.core.resources import reference_data_dir
from tools.facts.facts_check import check, unknown_formats

TODAY = date(2026, 12, 4)
runner = CliRunner()


def _copy(tmp_path: Path) -> Path:
    for path in reference_data_dir().glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_facts_check_on_today() -> None:
    report = check(TODAY)
    assert report.today == TODAY and report.invalid == [] and report.negative_violations == []
    lines = "\n".join(report.headline)
    assert "OpenAI fine-tuning API (self-serve): closes to new jobs on 2027-01-06 (in 33 days)" in lines
    assert "Claude 3 Haiku fine-tuning: closed to new jobs and stopped serving on 2026-09-10" in lines
    assert "OpenAI hosted Evals (dashboard and /evals API): shut down on 2026-11-30" in lines
    ended_models = {w.row for w in report.ended if w.file == "providers.yaml" and w.parent}
    assert {
        "openai / gpt-4.1-nano-2025-04-14",
        "openai / o4-mini-2025-04-16",
        "vertex-gemini / gemini-2.5-flash",
        "bedrock-claude-haiku / anthropic.claude-3-haiku-20240307-v1:0",
    } <= ended_models
    unknown = {w.row for w in report.unknown_ends if w.file == "providers.yaml"}
    assert "azure-openai / gpt-4.1-2025-04-14" in unknown and "vertex-gemini / gemini-3.1-flash-lite" in unknown
    assert any("Mistral" in d for d in report.deprecated)
    assert report.expired_in_use == []
    assert len(report.model_dump_json()) < 80_000


def test_closing_and_serving_are_worded_apart() -> None:
    report = check(TODAY)
    serving = [w for w in report.closing if w.kind == "serving_closing" and w.file == "providers.yaml"]
    assert serving and all("serving ends on 2027-01-14" in w.summary for w in serving)
    assert not any("closes to new jobs on 2027-01-14" in w.summary for w in report.closing)
    agent = [w for w in report.closing if w.file == "agent_models.yaml"]
    assert agent and all("shuts down on 2027-01-14" in w.summary for w in agent)
    price_rows = [w for w in report.closing if w.file == "pricing.yaml" and "/ standard" in w.row]
    assert price_rows and all("serving ends" in w.summary for w in price_rows)


def test_only_what_is_really_stale_is_reported() -> None:
    """Rows re-checked on 2026-12-04 are not stale; retired offerings and prices we already keep only as last
    known are not "to re-check"; what is left is a row whose own date is past its review age."""
    report = check(TODAY)
    stale = {(w.file, w.row) for w in report.stale}
    assert not any(f in ("providers.yaml", "pricing.yaml", "gpus.yaml", "lora_defaults.yaml") for f, _ in stale)
    assert all(w.date is not None and (TODAY - w.date).days > 120 for w in report.stale)
    assert report.ok is (report.stale_total == 0)


def test_an_aged_price_is_reported_stale_and_in_use(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    report = check(date(2027, 3, 1), data_dir=folder)
    assert report.stale_total > len(report.stale)  # the list is capped; the total is not
    assert any("together / open-weight-up-to-16b / sft_lora" in x for x in report.expired_in_use)
    assert not report.ok


def test_facts_check_reports_a_bad_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    raw = yaml.safe_load((folder / "pricing.yaml").read_text("utf-8"))
    raw["hosting"][0].pop("checked")
    (folder / "pricing.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    report = check(TODAY, data_dir=folder)
    assert not report.ok and any("hosting.0" in p and "checked" in p for p in report.invalid)


def test_facts_check_catches_an_old_claim_brought_back(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    text = (folder / "pricing.yaml").read_text("utf-8")
    old = "method: sft_lora, unit: per_1m_tokens, price_usd: null, last_known: {value: 0.50"
    assert old in text
    (folder / "pricing.yaml").write_text(
        text.replace(old, "method: sft_lora, unit: free, price_usd: 0.0, last_known: {value: 0.50"), "utf-8"
    )
    report = check(TODAY, data_dir=folder)
    assert not report.ok and any("Fireworks fine-tunes models under 16B" in v for v in report.negative_violations)


def test_facts_check_through_the_registry(ws) -> None:
    from tools.core import registry

    spec = registry.get("facts_check")
    assert spec.effect == "read"
    report = registry.call(
        "facts_check", {"today": "2026-12-04", "max_age_days": None, "horizon_days": None}, workspace=ws
    )
    assert any("2027-01-06" in line for line in report.headline)
    with pytest.raises(ToolError) as exc:
        registry.call("facts_check", {"max_age_days": -1}, workspace=ws)
    assert exc.value.code == "invalid_arguments"


def test_provider_formats_are_known_to_the_data_tools() -> None:
    assert unknown_formats(reference_data_dir()) == []


def test_facts_check_with_a_generous_age_is_ok() -> None:
    assert check(TODAY, max_age=10_000).ok


def test_facts_check_cli_json() -> None:
    from skill.cli import app

    result = runner.invoke(app, ["facts", "check", "--today", "2026-12-04", "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == (0 if data["ok"] else 1), result.output
    assert any("2027-01-06" in line and "OpenAI" in line for line in data["headline"])
    result = runner.invoke(app, ["facts", "check", "--today", "2026-12-04", "--max-age-days", "100000", "--json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["facts", "check", "--today", "not-a-date", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_arguments"
    human = runner.invoke(app, ["facts", "check", "--today", "2026-12-04"], env={"COLUMNS": "200"})
    assert "End date unknown" in human.stdout and "closes to new jobs on 2027-01-06" in human.stdout
