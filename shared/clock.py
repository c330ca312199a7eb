"""The time ordergate acts on, and the trading calendar, both from settings.

Sessions and expiry ask `clock().now()`, never `datetime.now()`, so that a test can set the
clock (CLOCK_OFFSET_SECONDS, the same in the API and in every worker process) and watch a DAY
order expire at 16:00 New York with a real worker. Rows keep PostgreSQL's own timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from shared.domain.sessions import Calendar
from shared.settings import Settings, get_settings


class Clock:
    """The wall clock, shifted by an offset (zero outside tests)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        """Return the current instant, timezone-aware (UTC)."""
        return datetime.now(UTC) + self.offset


class FixedClock(Clock):
    """A clock that stands still at `at` (tests of one instant)."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        if at.tzinfo is None:
            raise ValueError(f"a clock's time must be timezone-aware, was {at.isoformat()}")
        self.at = at

    def now(self) -> datetime:
        """Return the instant the clock was set to."""
        return self.at


def clock_from(settings: Settings) -> Clock:
    """Return the clock `settings` describe."""
    return Clock(settings.clock_offset_seconds)


def calendar_from(settings: Settings) -> Calendar:
    """Return the trading calendar `settings` describe (hours, holidays, PAPER_ALWAYS_OPEN)."""
    return Calendar.build(settings.session_hours, settings.session_holidays,
                          settings.paper_always_open)


@lru_cache
def clock() -> Clock:
    """Return the process-wide clock (from get_settings())."""
    return clock_from(get_settings())


@lru_cache
def market_calendar() -> Calendar:
    """Return the process-wide trading calendar (from get_settings())."""
    return calendar_from(get_settings())
