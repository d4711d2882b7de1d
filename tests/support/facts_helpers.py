"""Helpers for tests that need a price confirmed: the arithmetic of a path whose price is last known only."""

from __future__ import annotations

from datetime import date

import pytest

from tools import knowledge

RECHECKED = date(2026, 12, 1)


def confirm_last_known_prices(monkeypatch: pytest.MonkeyPatch, on: date = RECHECKED) -> None:
    """Treat every price kept as `last_known` as if it had just been re-read at its source on ``on``, so that the
    arithmetic around it can be checked (the shipped data keeps them unconfirmed)."""
    price = knowledge.pricing()
    for row in [*price.training, *price.hosting, *price.storage]:
        if row.price_usd is None and row.last_known is not None:
            monkeypatch.setattr(row, "price_usd", row.last_known.value)
            monkeypatch.setattr(row, "source_date", None)
            monkeypatch.setattr(row, "checked", on)
            monkeypatch.setattr(row, "as_of", on)
