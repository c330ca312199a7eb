"""Indian market time and market protection, shared by the Indian brokers' wire formats (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Final

# India keeps no daylight saving: a fixed offset is exact.
IST: Final = timezone(timedelta(hours=5, minutes=30), "IST")


def next_ist(now: datetime, at: time) -> datetime:
    """The first moment after `now` when the clock in India reads `at` (a daily expiry)."""
    local = now.astimezone(IST)
    moment = datetime.combine(local.date(), at.replace(tzinfo=IST))
    return moment if moment > local else moment + timedelta(days=1)


# Kite Connect refuses MARKET and SL-M orders without market_protection: -1 lets the broker
# apply its own limit ("automatic"), 0 < p <= 100 caps the fill at p percent from the last
# price (kiteconnect 5.2.2 place_order/modify_order). A connection's choice travels in its
# session's extra under this key.
MARKET_PROTECTION: Final = "market_protection"
AUTOMATIC_PROTECTION: Final = Decimal(-1)
MAX_PROTECTION: Final = Decimal(100)


def valid_protection(value: Decimal) -> bool:
    """True for -1 (automatic) or a percentage above 0 and at most 100."""
    return value == AUTOMATIC_PROTECTION or 0 < value <= MAX_PROTECTION


def market_protection(extra: Mapping[str, str]) -> Decimal:
    """A connection's market protection (automatic unless it chose a percentage)."""
    text = extra.get(MARKET_PROTECTION)
    if text is None:
        return AUTOMATIC_PROTECTION
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not valid_protection(value):
        raise ValueError(f"market_protection must be -1 or above 0 up to 100, was {text!r}")
    return value
