"""Money and durations as people read them: "$1,224.00", "$0.00088", "about 19 days", "2.4 months"."""

from __future__ import annotations

DIGITS = 6
DAYS_IN_MONTH = 30
"""Months of payback are counted in 30-day months, as the hosting arithmetic (720 hours a month) does."""


def money(x: float) -> str:
    if x == 0:
        return f"${x:.0f}"
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.6f}".rstrip("0")


def round_usd(x: float) -> float:
    """Money kept to six decimals (per-request prices are fractions of a cent)."""
    return round(x, DIGITS)


def duration_text(months: float) -> str:
    """A payback time in the unit that reads best: never "0.00 months"."""
    days = months * DAYS_IN_MONTH
    if days < 1:
        return "under a day"
    if months < 1:
        return f"about {days:.0f} day{'s' if round(days) != 1 else ''}"
    if months < 24:
        return f"{months:.1f} months"
    return f"{months / 12:.1f} years"
