"""OHLC bars: the intervals the API aggregates ticks into, and how much time one request may
cover."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from shared.domain.errors import DomainError


class Interval(StrEnum):
    """A bar's length."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"


STEP: Final = {Interval.M1: timedelta(minutes=1), Interval.M5: timedelta(minutes=5),
               Interval.M15: timedelta(minutes=15), Interval.H1: timedelta(hours=1),
               Interval.D1: timedelta(days=1)}
# Bars are merged from 1-minute bars (and at most two part-minutes of ticks), so the cost of a
# request is the minutes it covers: a week of 1m bars is ~10,000 of them, a year of 1d bars up
# to ~527,000 for a symbol that trades around the clock.
MAX_RANGE: Final = {Interval.M1: timedelta(days=7), Interval.M5: timedelta(days=31),
                    Interval.M15: timedelta(days=31), Interval.H1: timedelta(days=92),
                    Interval.D1: timedelta(days=366)}


class InvalidMarketQuery(DomainError):
    """A market data query the API will not answer as asked."""

    kind = "invalid"
    default_code = "invalid_market_query"


def check_range(start: datetime, end: datetime, limit: timedelta, what: str) -> None:
    """Refuse a range [start, end) that is empty, reversed or longer than `limit`."""
    if not start < end:
        raise InvalidMarketQuery(f"start must be before end, was {start.isoformat()} to "
                                 f"{end.isoformat()}", details={"field": "end"})
    if end - start > limit:
        raise InvalidMarketQuery(f"{what} cover at most {limit.days} days per request, asked for "
                                 f"{end - start}", code="range_too_long",
                                 details={"field": "end", "max_days": limit.days})


def bar_origin(start: datetime, zone: str | None, session_open: time | None) -> datetime:
    """Where bins start: the session's open on `start`'s local day at its exchange, so hourly
    and daily bars start at the open (09:15 at NSE) as brokers draw them; UTC midnight for an
    instrument whose exchange has no session hours."""
    if zone is None or session_open is None:
        return datetime.combine(start.astimezone(UTC).date(), time(0), UTC)
    local = start.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), session_open, ZoneInfo(zone))


MINUTE: Final = timedelta(minutes=1)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def whole_minutes(step: timedelta, origin: datetime, start: datetime,
                  end: datetime) -> tuple[datetime, datetime] | None:
    """The whole minutes [first, last) inside [start, end) whose bars of `step` from `origin`
    can be merged from 1-minute bars, or None when they cannot: a step that is not a whole
    number of minutes, an origin off the minute (bins would cut minutes), or a range inside one
    minute. The parts of [start, end) outside the whole minutes are at most a minute each."""
    if step <= timedelta(0) or step % MINUTE or (origin - EPOCH) % MINUTE:
        return None
    first = start + (EPOCH - start) % MINUTE  # start rounded up to the minute
    last = end - (end - EPOCH) % MINUTE  # end rounded down
    if first > last:
        return None
    return first, last
