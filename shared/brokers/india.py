"""Indian market time, shared by the Indian brokers' wire formats (pure)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Final

# India keeps no daylight saving: a fixed offset is exact.
IST: Final = timezone(timedelta(hours=5, minutes=30), "IST")


def next_ist(now: datetime, at: time) -> datetime:
    """The first moment after `now` when the clock in India reads `at` (a daily expiry)."""
    local = now.astimezone(IST)
    moment = datetime.combine(local.date(), at.replace(tzinfo=IST))
    return moment if moment > local else moment + timedelta(days=1)
