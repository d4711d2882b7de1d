"""facts refresh: reads LiteLLM's price map from the installed litellm package (never a copy of ours, never the
network), proposes a diff to review, touches only inference prices and serving end dates, keeps rows that cite a
provider's own page, and refuses changes that bring back a claim negative_facts.yaml forbids."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill.cli import app
from tools import knowledge
from tools.core.resources import reference_data_dir
from tools.facts.refresh import installed_price_map, load_litellm, refresh_pricing

runner = CliRunner()
pytest.importorskip("importlib.metadata")


@pytest.fixture(scope="module")
def litellm_map() -> dict:
    path, version = installed_price_map()
    assert path.name == "model_prices_and_context_window_backup.json" and version
    return load_litellm(path)


def _pricing_copy(tmp_path: Path) -> Path:
    for name in ("pricing", "providers"):
        shutil.copy(reference_data_dir() / f"{name}.yaml", tmp_path / f"{name}.yaml")
    return tmp_path / "pricing.yaml"


def test_the_map_comes_from_the_installed_package_without_importing_it(litellm_map: dict) -> None:
    assert "litellm" not in sys.modules  # importing litellm would fetch a remote copy of the map
    entry = litellm_map["ft:gpt-4.1-mini-2025-04-14"]
    assert entry["input_cost_per_token"] == pytest.approx(8e-07) and entry["deprecation_date"] == "2027-01-14"
    assert not (Path(__file__).resolve().parents[2] / "data" / "litellm_sample.json").exists()


def test_the_shipped_prices_match_the_installed_map(litellm_map: dict, tmp_path: Path) -> None:
    """The inference rows were refreshed from litellm 1.110.2: a refresh with the same release changes nothing."""
    result = refresh_pricing(
        litellm_map,
        _pricing_copy(tmp_path),
        date(2026, 12, 4),
        providers_path=reference_data_dir() / "providers.yaml",
        negative=knowledge.negative_facts(),
    )
    assert result.changes == [] and result.diff == "" and result.missing_keys == [] and result.blocked == []
    assert result.serving_mismatches == []
    assert "ft:davinci-002" in result.unlisted_ft_keys


def test_refresh_updates_inference_prices_and_serving_dates_only(litellm_map: dict, tmp_path: Path) -> None:
    data = json.loads(json.dumps(litellm_map))
    data["ft:gpt-4.1-mini-2025-04-14"]["output_cost_per_token"] = 3.0e-06
    data["ft:gpt-4.1-mini-2025-04-14"]["deprecation_date"] = "2027-03-01"
    data["gpt-4o-mini"]["input_cost_per_token"] = 1.6e-07
    path = _pricing_copy(tmp_path)
    before = knowledge.load_facts_file(path, knowledge.PricingFile)
    result = refresh_pricing(data, path, date(2026, 12, 20), source="https://pypi.org/project/litellm/9.9.9/")
    fields = {(c.row, c.field) for c in result.changes}
    assert ("openai / gpt-4.1-mini-2025-04-14 / standard", "ft_output") in fields
    assert ("openai / gpt-4.1-mini-2025-04-14 / standard", "serving_until") in fields
    assert ("openai / gpt-4o-mini-2024-07-18 / standard", "base_input") in fields
    assert "+    ft_output: 3.00" in result.diff and "-    ft_output: 3.20" in result.diff
    path.write_text(result.new_text, "utf-8")
    after = knowledge.load_facts_file(path, knowledge.PricingFile)
    assert after.training == before.training and after.hosting == before.hosting and after.storage == before.storage
    row = after.inference_price("openai", "gpt-4.1-mini-2025-04-14")
    assert row.ft_output == pytest.approx(3.0) and row.checked == date(2026, 12, 20)
    assert row.serving_until == date(2027, 3, 1) and row.source == "https://pypi.org/project/litellm/9.9.9/"
    assert (
        result.new_text.splitlines()[:5] == (reference_data_dir() / "pricing.yaml").read_text("utf-8").splitlines()[:5]
    )


def test_refresh_keeps_rows_that_cite_a_providers_own_page(litellm_map: dict, tmp_path: Path) -> None:
    path = _pricing_copy(tmp_path)
    text = path.read_text("utf-8")
    marker = "    litellm_base_key: together-ai-4.1b-8b\n"
    assert marker in text
    block_start = text.index(marker)
    block_end = text.index("    basis: secondary\n", block_start)
    path.write_text(
        text[:block_end] + "    basis: primary\n" + text[block_end + len("    basis: secondary\n") :], "utf-8"
    )
    data = json.loads(json.dumps(litellm_map))
    data["together-ai-4.1b-8b"]["input_cost_per_token"] = 9e-07
    result = refresh_pricing(data, path, date(2026, 12, 20))
    assert result.changes == [] and any(
        "together / open-weight-4b-8b" in k and "kept" in k for k in result.kept_primary
    )


def test_refresh_refuses_to_bring_back_a_negative_fact(litellm_map: dict, tmp_path: Path) -> None:
    """If a row were mapped to LiteLLM's Fireworks bucket for its fine-tuned price (the old "served at the base
    price" claim), the refresh would set a per-token price that Fireworks' own page rules out: it is refused."""
    path = _pricing_copy(tmp_path)
    text = path.read_text("utf-8")
    marker = "    litellm_base_key: fireworks-ai-4.1b-to-16b\n"
    path.write_text(text.replace(marker, marker + "    litellm_ft_key: fireworks-ai-4.1b-to-16b\n"), "utf-8")
    result = refresh_pricing(litellm_map, path, date(2026, 12, 20), negative=knowledge.negative_facts())
    assert not any(c.row.startswith("fireworks") for c in result.changes)
    assert any("Fireworks serves fine-tuned LoRA models serverless" in b for b in result.blocked)


def test_refresh_cli_writes_a_diff_and_changes_nothing_without_apply(in_ws) -> None:
    original = (reference_data_dir() / "pricing.yaml").read_text("utf-8")
    result = runner.invoke(app, ["facts", "refresh", "--today", "2026-12-04", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["source"].startswith("https://pypi.org/project/litellm/")
    assert summary["applied"] is False and summary["diff"] == "facts-refresh.diff" and summary["changes"] == []
    assert (in_ws.root / "facts-refresh.diff").read_text("utf-8") == "# no changes\n"
    copy = json.loads((Path(installed_price_map()[0])).read_text("utf-8"))
    copy["ft:gpt-4o-mini-2024-07-18"]["input_cost_per_token"] = 2.5e-07
    (in_ws.root / "prices.json").write_text(json.dumps(copy), "utf-8")
    changed = runner.invoke(app, ["facts", "refresh", "--litellm", "prices.json", "--today", "2026-12-04", "--json"])
    assert [c["field"] for c in json.loads(changed.stdout)["changes"]] == ["ft_input"]
    assert "+    ft_input: 0.25" in (in_ws.root / "facts-refresh.diff").read_text("utf-8")
    assert (reference_data_dir() / "pricing.yaml").read_text("utf-8") == original
    bad = runner.invoke(app, ["facts", "refresh", "--litellm", "missing.json", "--json"])
    assert bad.exit_code == 2


def test_without_litellm_the_refresh_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from tools.core.errors import ToolError

    def missing(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ToolError) as exc:
        installed_price_map()
    assert exc.value.code == "litellm_missing" and "finetune-skill[facts]" in exc.value.hint
