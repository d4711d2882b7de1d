"""Amounts in a person's words (skill/guide/amounts.py): text2num + price-parser + the table in prompts/amounts.yaml."""

from __future__ import annotations

import pytest

from skill.guide.amounts import parse_amount, to_usd


@pytest.mark.parametrize(
    "text, low, high, currency, per",
    [
        ("a couple hundred", 200, 200, None, None),
        ("10-20k", 10_000, 20_000, None, None),
        ("a few hundred euros", 200, 500, "EUR", None),
        ("two thousand", 2000, 2000, None, None),
        ("5k", 5000, 5000, None, None),
        ("$3,000 a month", 3000, 3000, "USD", "month"),
        ("about 200", 200, 200, None, None),
        ("twenty five thousand", 25_000, 25_000, None, None),
        ("1.5k", 1500, 1500, None, None),
        ("two to three thousand", 2000, 3000, None, None),
        ("€500 per month", 500, 500, "EUR", "month"),
        ("a dozen", 12, 12, None, None),
        ("half a million", 500_000, 500_000, None, None),
        ("200k requests a month", 200_000, 200_000, None, "month"),
        ("between 10 and 20 thousand", 10_000, 20_000, None, None),
        ("hundreds of them", 200, 900, None, None),
        ("1.5 million", 1_500_000, 1_500_000, None, None),
        ("about 500 dollars", 500, 500, "USD", None),
        ("£2k a year", 2000, 2000, "GBP", "year"),
        ("none", 0, 0, None, None),
        ("500-2k", 500, 2000, None, None),
    ],
)
def test_phrases(text: str, low: float, high: float, currency: str | None, per: str | None) -> None:
    amount = parse_amount(text)
    assert amount is not None
    assert (amount.low, amount.high, amount.currency, amount.per) == (low, high, currency, per)


@pytest.mark.parametrize("text", ["no idea", "lots of them", "many", ""])
def test_no_number_is_none(text: str) -> None:
    assert parse_amount(text) is None


def test_periods_become_monthly_and_euros_become_dollars_with_the_rate_date() -> None:
    daily = parse_amount("3,000 a day")
    assert daily is not None and 90_000 < daily.per_month(daily.low) < 92_000
    usd, when = to_usd(100, "EUR") or (0.0, None)
    assert 80 < usd < 150 and when is not None and when.year >= 2025
    assert to_usd(100, "XYZ") is None and to_usd(100, "USD")[0] == 100  # type: ignore[index]
