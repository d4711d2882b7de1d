"""Amounts in a person's words: "a couple hundred", "10-20k", "a few hundred euros", "$3,000 a month".

Number words become digits through ``text2num`` (``alpha2digit``, threshold 0 so "two" counts too) and the
currency is found by ``price-parser``; neither reads vague quantities ("a few"), suffixes ("5k") or ranges,
so those follow the explicit table in ``prompts/amounts.yaml``. A range stays a range (``low``/``high``);
the currency stays its ISO code and the period stays named, so the guide can say exactly what it understood.
Money in another currency is converted to US dollars with ``currencyconverter`` (the European Central Bank's
reference rates, shipped inside that package), naming the date of the rate.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from tools.core.resources import prompts_dir

Period = Literal["day", "week", "month", "year"]
_NUM = r"(\d+(?:[.,]\d+)*)\s*({suffixes})?(?![\w])"


class Amount(BaseModel):
    """What an answer says about a quantity."""

    low: float
    high: float
    currency: str | None = None
    per: Period | None = None
    text: str

    @property
    def is_range(self) -> bool:
        return self.high != self.low

    def per_month(self, value: float) -> float:
        """``value`` (one of low/high) as a monthly figure, when a period was named."""
        return value / rules()["periods"][self.per]["months"] if self.per else value


@cache
def rules() -> dict[str, Any]:
    return dict(yaml.safe_load((prompts_dir() / "amounts.yaml").read_text("utf-8")))


def _num_pattern() -> str:
    suffixes = "|".join(sorted(map(re.escape, rules()["suffixes"]), key=len, reverse=True))
    return _NUM.format(suffixes=suffixes)


def _value(digits: str, suffix: str | None) -> float:
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
        number = float(digits.replace(",", ""))
    else:
        number = float(digits.replace(",", "."))
    return number * rules()["suffixes"].get((suffix or "").lower(), 1)


def _currency(original: str, lowered: str) -> str | None:
    from price_parser import Price

    codes: dict[str, str] = {str(k).lower(): v for k, v in rules()["currencies"].items()}
    found = Price.fromstring(original).currency
    if found and found.lower() in codes:
        return codes[found.lower()]
    if found and re.fullmatch(r"[A-Z]{3}", found):
        return found
    for word, code in codes.items():
        if re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", lowered):
            return code
    return None


def _period(lowered: str) -> Period | None:
    for name, spec in rules()["periods"].items():
        if any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", lowered) for w in spec["words"]):
            return name  # type: ignore[no-any-return]
    return None


def _range(text: str, had_scale_word: bool) -> tuple[float, float] | None:
    num = _num_pattern()
    match = re.search(rf"{num}\s*(?:-|–|to|and)\s*(?:\$|€|£)?\s*{num}", text)
    if not match:
        return None
    high = _value(match.group(3), match.group(4))
    low_suffix = match.group(2) or (match.group(4) if not match.group(2) else None)
    low = _value(match.group(1), low_suffix)
    if low > high and not match.group(2):
        low = _value(match.group(1), None)
    if had_scale_word and not match.group(2) and low < 1000 <= high:
        # "two to three thousand" reaches us as "2 to 3000": the scale word belongs to both ends.
        for scale in (1e9, 1e6, 1e3):
            if high % scale == 0 and low * scale <= high:
                low *= scale
                break
    return (low, high) if low <= high else None


def _vague(text: str) -> tuple[float, float] | None:
    num = _num_pattern()
    for entry in sorted(rules()["vague"], key=lambda e: -max(len(w) for w in e["words"])):
        for words in sorted(entry["words"], key=len, reverse=True):
            match = re.search(rf"(?<![\w]){re.escape(words)}\s+(?:of\s+)?{num}", text)
            if match:
                base = _value(match.group(1), match.group(2))
                return entry["low"] * base, entry["high"] * base
    for entry in rules()["vague"]:
        for words in entry["words"]:
            if re.search(rf"(?<![\w]){re.escape(words)}(?![\w])", text) and entry["low"] >= 1:
                return float(entry["low"]), float(entry["high"])
    return None


def _times(match: re.Match[str]) -> str:
    value = float(match[1]) * int(match[2])
    return str(int(value)) if value.is_integer() else str(value)


def parse_amount(text: str) -> Amount | None:
    """The amount a phrase gives, or None when it names no number."""
    from text_to_num import alpha2digit

    lowered = text.lower().strip()
    for word in rules()["zero_words"]:
        if re.fullmatch(rf"(?:{re.escape(word)})(?:\s+(?:yet|so far|at all|right now))?[.!]?", lowered):
            return Amount(low=0, high=0, text=text)
    currency, per = _currency(text, lowered), _period(lowered)
    for word, (low, high) in rules()["plural_scales"].items():
        rest = re.sub(rf"\b{word}\b", " ", lowered)
        if rest != lowered and not re.search(r"\d", alpha2digit(rest, "en", threshold=0)):
            return Amount(low=low, high=high, currency=currency, per=per, text=text)  # "hundreds of them"
    had_scale_word = bool(re.search(r"\b(thousand|million|billion)\b", lowered))
    digits = alpha2digit(lowered, "en", threshold=0)
    # "20 thousand" comes back as "20 1000": one number.
    digits = re.sub(r"\b(\d+(?:\.\d+)?) (1000|1000000|1000000000)\b", _times, digits)
    found = _range(digits, had_scale_word) or _vague(digits)
    if found is None:
        match = re.search(_num_pattern(), digits)
        if match:
            value = _value(match.group(1), match.group(2))
            found = (value, value)
    if found is None:
        return None
    return Amount(low=found[0], high=found[1], currency=currency, per=per, text=text)


def to_usd(amount: float, currency: str) -> tuple[float, date] | None:
    """``amount`` of ``currency`` in US dollars at the latest ECB reference rate the installed
    ``currencyconverter`` holds, and that rate's date; None when the currency is not one the ECB quotes."""
    if currency == "USD":
        return amount, date.today()
    from currency_converter import CurrencyConverter

    converter = _converter(CurrencyConverter)
    if currency not in converter.currencies:
        return None
    when = min(converter.bounds[currency].last_date, converter.bounds["USD"].last_date)
    return float(converter.convert(amount, currency, "USD", date=when)), when


@cache
def _converter(factory: Any) -> Any:
    return factory(fallback_on_missing_rate=True)
