"""Facts expire: a price past its expiry is "last known, unconfirmed" and never computed with; a command gives one
notice per event and one line for all aged rows; and the shipped data has no ranking or pricing row past its
expiry that still carries a value (this test fails the day one expires: re-check it, or keep it as last_known)."""

from __future__ import annotations

from datetime import date

import pytest

from tools import knowledge
from tools.core.resources import reference_data_dir
from tools.cost.money import money
from tools.facts.facts_check import expired_in_use

TODAY = date(2026, 12, 4)


def test_no_ranking_or_pricing_row_is_past_its_expiry_today() -> None:
    """Uses the real date. When this fails, a price or a live provider row has aged past its file's expiry:
    re-read it at its source and update `checked`/`source_date`, or move the figure to `last_known`."""
    raws = {p.stem: knowledge.read_prepared(p) for p in reference_data_dir().glob("*.yaml")}
    assert expired_in_use(raws, date.today()) == []


def test_the_expiry_ages_come_from_the_data() -> None:
    price, gpu, prov = knowledge.pricing(), knowledge.gpus(), knowledge.providers()
    assert {e.section: e.days for e in price.expiry} == {
        "training": 60,
        "inference": 60,
        "hosting": 60,
        "storage": 60,
        "discounts": 60,
    }
    assert {e.section: e.days for e in gpu.expiry}["offers"] == 30
    assert all(e.source.startswith("https://") and e.why for e in [*price.expiry, *gpu.expiry, *prov.expiry])
    assert all(r.review_days == 60 and r.clock == "source_date" for r in price.training)
    assert all(o.review_days == 30 for o in gpu.offers)
    assert all(p.review_days == 90 and p.clock == "checked" for p in prov.providers)


def test_a_price_past_its_expiry_is_last_known_and_unconfirmed() -> None:
    offer = next(
        o for o in knowledge.gpus().offers if o.vendor == "runpod" and o.gpu == "h100-sxm" and o.tier == "community"
    )
    assert offer.source_date == date(2026, 11, 9)
    fresh = knowledge.price_state(offer, offer.usd_per_gpu_hour, TODAY)
    assert fresh.status == "confirmed" and fresh.value == pytest.approx(2.69)
    late = knowledge.price_state(offer, offer.usd_per_gpu_hour, date(2026, 12, 10))  # 31 days after the page
    assert late.status == "unconfirmed" and late.value is None and late.last_known == pytest.approx(2.69)
    assert late.describe(money, "per GPU-hour").startswith("last known $2.69 per GPU-hour on 2026-11-09, unconfirmed")


def test_a_price_kept_only_as_last_known_is_never_a_value() -> None:
    azure = next(h for h in knowledge.pricing().hosting if h.provider == "azure-openai" and h.deployment == "standard")
    state = knowledge.price_state(azure, azure.price_usd, TODAY)
    assert azure.price_usd is None and state.status == "unconfirmed" and state.value is None
    assert state.describe(money, "per hour").startswith("last known $1.70 per hour on 2026-02-11, unconfirmed")
    nova = knowledge.pricing().training_price("bedrock-nova", "amazon.nova-micro-v1:0")
    assert knowledge.price_state(nova, nova.price_usd, TODAY).status == "unknown"


def test_one_notice_per_event_and_one_line_for_aged_rows() -> None:
    """Twenty aged rows give one line; the provider, model and price rows that close on one day give one notice."""
    usage = knowledge.FactUsage(on=date(2027, 3, 1))
    usage.add([knowledge.providers().provider("openai")], file="providers.yaml")
    openai = knowledge.providers().provider("openai")
    usage.add([openai.model("gpt-4.1-mini-2025-04-14")], file="providers.yaml", context="openai")
    rows = [r for r in knowledge.pricing().inference if r.provider == "openai"]
    usage.add(rows, file="pricing.yaml")
    usage.add(rows, file="pricing.yaml")  # used twice: still reported once
    together = [r for r in knowledge.pricing().training if r.provider == "together"]
    usage.add(together, file="pricing.yaml")  # dated 2026-11-24: past their 60 days on 2027-03-01
    notices = usage.notices()
    assert len(notices) == len(set(notices))
    aged = [n for n in notices if "review age" in n]
    assert len(aged) == 1 and aged[0].startswith(f"{len(together)} facts used here are past their review age")
    assert sum("closed to new jobs on 2027-01-06" in n for n in notices) == 1
    assert sum("serving ended on 2027-01-14" in n for n in notices) == 1


def test_rows_of_ended_offerings_and_value_free_prices_are_not_called_stale() -> None:
    """Re-checking a retired offering or a price we already keep only as last known changes no decision."""
    cohere = knowledge.providers().provider("cohere")
    assert not [w for w in knowledge.warnings_for([cohere], on=date(2030, 1, 1)) if w.kind == "stale"]
    azure = next(h for h in knowledge.pricing().hosting if h.deployment == "standard")
    assert not [w for w in knowledge.warnings_for([azure], on=TODAY) if w.kind == "stale"]
    together = knowledge.pricing().training_price("together", "open-weight-up-to-16b", "sft_lora")
    assert [w.kind for w in knowledge.warnings_for([together], on=date(2027, 3, 1))] == ["stale"]
