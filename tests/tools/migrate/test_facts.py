"""The dates and prices of a migration come from reference/data: moving a row moves the answer, moving the clock
(FINETUNE_TODAY) ends the model, and no date or price is typed into tools/migrate."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from tools import knowledge
from tools.core.errors import ToolError
from tools.migrate.facts import (
    base_of,
    folder_of,
    inference_rows,
    migration,
    model_dates,
    rates,
    refuse_if_ended,
    slug,
)

MIGRATE = Path(__file__).resolve().parents[3] / "tools" / "migrate"
ENDING = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"]


@pytest.mark.parametrize("base", ENDING)
def test_the_four_models_close_and_stop_on_the_facts_dates(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")
    prov = knowledge.providers().provider("openai")
    row = prov.model(base)
    d = model_dates(base)
    assert d.known and d.closes == prov.model_until(row) and d.serving_until == knowledge.known_date(row.serving_until)
    assert (d.closes, d.serving_until, d.days_left, d.status) == (date(2027, 1, 6), date(2027, 1, 14), 41, "ending")
    assert "closes to new fine-tuning jobs on 2027-01-06" in d.describe()
    assert "serving ends on 2027-01-14 (41 days left)" in d.describe()


def test_moving_a_row_moves_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving end is the earlier of the model row and its price rows: both are read, none is typed in code."""
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")
    base = "gpt-4o-mini-2024-07-18"
    row = knowledge.providers().provider("openai").model(base)
    monkeypatch.setattr(row, "serving_until", date(2027, 3, 1))
    assert model_dates(base).serving_until == date(2027, 1, 14)  # the price rows still end it then
    for price in inference_rows(base):
        monkeypatch.setattr(price, "serving_until", date(2027, 3, 1))
    assert model_dates(base).serving_until == date(2027, 3, 1)
    assert model_dates(base).days_left == (date(2027, 3, 1) - date(2026, 12, 4)).days


def test_the_clock_ends_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-14")
    d = model_dates("gpt-4.1-mini-2025-04-14")
    assert not d.serving and d.status == "ended" and "stopped serving on 2027-01-14" in d.describe()
    with pytest.raises(ToolError) as err:
        refuse_if_ended(d, "ft:gpt-4.1-mini-2025-04-14:acme::x1", "its answers can no longer be recorded")
    assert err.value.code == "model_retired"
    assert "stopped serving on 2027-01-14 (today is 2027-01-14)" in err.value.message
    monkeypatch.setenv("FINETUNE_TODAY", "2027-01-13")
    assert model_dates("gpt-4.1-mini-2025-04-14").days_left == 1
    refuse_if_ended(model_dates("gpt-4.1-mini-2025-04-14"), "m", "x")  # still serving: no refusal


def test_ended_and_unknown_bases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")
    nano = model_dates("gpt-4.1-nano-2025-04-14")
    assert nano.status == "ended" and nano.serving_until == date(2026, 10, 23)
    legacy = model_dates("gpt-3.5-turbo-0125")
    assert legacy.status == "unknown" and legacy.serving_until is None and legacy.serving
    assert "not a fine-tunable OpenAI model in providers.yaml" in legacy.describe()


def test_standard_and_batch_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2026-12-04")
    usage = knowledge.FactUsage()
    std, batch = rates("gpt-4o-mini-2024-07-18", usage)
    row = next(r for r in inference_rows("gpt-4o-mini-2024-07-18") if r.tier == "batch")
    assert (std.tier, std.input_usd, std.output_usd) == ("standard", 0.30, 1.20)
    assert (batch.input_usd, batch.output_usd) == (row.ft_input, row.ft_output) and "/ batch" in batch.basis
    assert batch.cost(1_000_000, 1_000_000) < std.cost(1_000_000, 1_000_000)
    # gpt-4o has no batch row: the standard price less the Batch discount row of pricing.yaml
    std4o, batch4o = rates("gpt-4o-2024-08-06", usage)
    discount = next(d for d in knowledge.pricing().discounts if d.provider == "openai" and d.kind == "batch")
    assert batch4o.input_usd == pytest.approx(std4o.input_usd * (1 - discount.fraction_off))
    assert "discounts" in batch4o.basis


def test_prices_past_their_expiry_are_not_computed_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_TODAY", "2027-06-01")
    std, batch = rates("gpt-4o-mini-2024-07-18", knowledge.FactUsage())
    assert std.status == "unconfirmed" and std.cost(1000, 1000) is None and "last known" in std.text
    assert batch.cost(1000, 1000) is None


def test_model_ids_and_folders() -> None:
    ft = "ft:gpt-4o-mini-2024-07-18:acme-corp:support:AbC123"
    assert base_of(ft) == "gpt-4o-mini-2024-07-18" and base_of("gpt-4.1-2025-04-14") == "gpt-4.1-2025-04-14"
    assert slug(ft) == "gpt-4o-mini-2024-07-18-acme-corp-support-AbC123"
    assert folder_of(ft) == "migrations/gpt-4o-mini-2024-07-18-acme-corp-support-AbC123"
    assert slug("ft:../../etc/passwd:x") == "etc-passwd-x"
    with pytest.raises(ToolError) as err:
        base_of("ft:")
    assert err.value.code == "bad_model_id"


def test_migration_yaml_names_known_bases() -> None:
    facts = migration()
    assert facts.replacement("gpt-4o-mini-2024-07-18").openai_family == "gpt-4o-mini"
    assert facts.replacement("gpt-4.1-2025-04-14").openai_family == "gpt-4.1"
    assert facts.replacement("o4-mini-2025-04-16") is None
    for row in facts.replacements:
        assert all(facts.base(b) is not None for b in row.start_bases + row.next_bases)
    served = {b.together_id for b in facts.bases if b.together_id}
    together = knowledge.providers().provider("together").serving
    assert served <= set(together.serverless_for)  # type: ignore[union-attr]


def test_no_date_or_price_is_typed_into_the_code() -> None:
    found = []
    for path in MIGRATE.glob("*.py"):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"202[6-9]-\d\d-\d\d|\$\d|\b0\.\d+\s*\*|\b(?:1\.5|3\.75|0\.15|0\.3|0\.6|1\.2)\b", line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []
