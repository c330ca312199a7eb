"""Trading sessions per exchange: when the paper exchange trades, when a DAY order expires.

Pure: every function takes the instant it is asked about (`at`, timezone-aware) and a
`Calendar` built from settings. Get the process-wide one, and the current time, from
`shared.clock`:

    from shared.clock import clock, market_calendar
    cal, now = market_calendar(), clock().now()
    cal.is_open("NYSE", now)     # inside a regular session? (always True with PAPER_ALWAYS_OPEN)
    cal.close_of("NYSE", now)    # the close of the session `now` is in, else of the next one
    cal.next_open("NYSE", now)   # the first session open at or after `now`

A session is one local-time window per trading day (weekends and the exchange's holidays are
closed); local times are resolved in the exchange's zone, so a DST change moves the UTC instant of
09:30 New York but never the 09:30. `always_open` changes `is_open` only: a DAY order still
expires at the calendar's close, because that is when it would expire at a real venue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import InvalidOrder

# Far enough to cross any run of weekends and holidays an exchange could configure.
_MAX_DAYS_AHEAD: Final = 31


@dataclass(frozen=True, slots=True)
class Hours:
    """An exchange's regular session: local open and close in its time zone."""

    zone: str
    open: time
    close: time

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)  # an unknown zone fails at start-up, not at the first order
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.zone!r}") from None
        if not self.open < self.close:
            raise ValueError(f"a session must open before it closes, was {self.open}–{self.close}")

    @classmethod
    def parse(cls, text: str) -> Hours:
        """Read "America/New_York 09:30-16:00"."""
        try:
            zone, window = text.split()
            start, end = window.split("-")
            return cls(zone, time.fromisoformat(start), time.fromisoformat(end))
        except ValueError as exc:
            raise ValueError(f"session hours must read like 'America/New_York 09:30-16:00', "
                             f"was {text!r} ({exc})") from None


DEFAULT_HOURS: Final[Mapping[str, Hours]] = {
    "NYSE": Hours("America/New_York", time(9, 30), time(16, 0)),
    "NASDAQ": Hours("America/New_York", time(9, 30), time(16, 0)),
    "NYSEARCA": Hours("America/New_York", time(9, 30), time(16, 0)),
    "NSE": Hours("Asia/Kolkata", time(9, 15), time(15, 30)),
    "BSE": Hours("Asia/Kolkata", time(9, 15), time(15, 30)),
}


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day's session at one exchange, as aware instants."""

    exchange: str
    day: date
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class Calendar:
    """Sessions of every known exchange; `always_open` lets the paper exchange trade around
    the clock (demos, and tests that are not about sessions)."""

    hours: Mapping[str, Hours] = field(default_factory=lambda: dict(DEFAULT_HOURS))
    holidays: Mapping[str, frozenset[date]] = field(default_factory=dict)
    always_open: bool = False

    @classmethod
    def build(cls, hours: Mapping[str, str] | None = None,
              holidays: Mapping[str, Iterable[date]] | None = None,
              always_open: bool = False) -> Calendar:
        """Return the defaults, with `hours` ("Zone HH:MM-HH:MM" per exchange) and holidays."""
        merged = dict(DEFAULT_HOURS)
        merged.update({name.upper(): Hours.parse(text) for name, text in (hours or {}).items()})
        days = {name.upper(): frozenset(dates) for name, dates in (holidays or {}).items()}
        return cls(merged, days, always_open)

    def knows(self, exchange: str) -> bool:
        """True when the calendar has hours for `exchange`."""
        return exchange.upper() in self.hours

    def is_trading_day(self, exchange: str, day: date) -> bool:
        """True for a weekday that is not one of the exchange's holidays."""
        self._hours(exchange)
        return day.weekday() < 5 and day not in self.holidays.get(exchange.upper(), frozenset())

    def session_on(self, exchange: str, day: date) -> Session | None:
        """Return the session of `day` (a local date at the exchange), or None if it is closed."""
        if not self.is_trading_day(exchange, day):
            return None
        hours = self._hours(exchange)
        zone = ZoneInfo(hours.zone)
        # Local wall times; a zone's DST change is never inside these hours, so no fold arises.
        return Session(exchange.upper(), day,
                       datetime.combine(day, hours.open, zone),
                       datetime.combine(day, hours.close, zone))

    def is_open(self, exchange: str, at: datetime) -> bool:
        """True while `exchange` trades at `at` (open inclusive, close exclusive)."""
        if self.always_open:
            self._hours(exchange)
            return True
        session = self.session_on(exchange, self._local_day(exchange, at))
        return session is not None and session.opens_at <= at < session.closes_at

    def current_or_next(self, exchange: str, at: datetime) -> Session:
        """Return the session `at` is in, else the next one to open."""
        day = self._local_day(exchange, at)
        for offset in range(_MAX_DAYS_AHEAD + 1):
            session = self.session_on(exchange, day + timedelta(days=offset))
            if session is not None and at < session.closes_at:
                return session
        raise InvalidOrder(f"{exchange} has no session in the next {_MAX_DAYS_AHEAD} days",
                           code="no_session", details={"field": "symbol", "exchange": exchange})

    def close_of(self, exchange: str, at: datetime) -> datetime:
        """Return the close of the session `at` is in, or of the next one (a DAY order's end)."""
        return self.current_or_next(exchange, at).closes_at

    def next_open(self, exchange: str, at: datetime) -> datetime:
        """Return the first session open at or after `at` (tomorrow's, when `at` is mid-session)."""
        session = self.current_or_next(exchange, at)
        if session.opens_at >= at:
            return session.opens_at
        return self.current_or_next(exchange, session.closes_at).opens_at

    def day_start(self, exchange: str, at: datetime) -> datetime:
        """Return the local midnight that began `at`'s day at the exchange."""
        zone = ZoneInfo(self._hours(exchange).zone)
        return datetime.combine(self._local_day(exchange, at), time(0), zone)

    def _hours(self, exchange: str) -> Hours:
        hours = self.hours.get(exchange.upper())
        if hours is None:
            raise InvalidOrder(f"no trading session is known for exchange {exchange}",
                               code="unknown_exchange",
                               details={"field": "symbol", "exchange": exchange})
        return hours

    def _local_day(self, exchange: str, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError(f"a session instant must be timezone-aware, was {at.isoformat()}")
        return at.astimezone(ZoneInfo(self._hours(exchange).zone)).date()


WAIT: Final = "wait"
REJECT: Final = "reject"
OUTSIDE_SESSION_POLICIES: Final = (WAIT, REJECT)


def outside_session(calendar: Calendar, exchange: str, at: datetime, *, market: bool,
                    immediate: bool, policy: str) -> str | None:
    """Decide what a new paper order does when `exchange` is closed at `at`.

    None while it trades, and for orders that simply rest (LIMIT, stops). An order that must
    execute at once (IOC, FOK) is refused, and so is a MARKET order when the account's policy
    is "reject" (InvalidOrder `market_closed`, naming the exchange and its next open); a
    MARKET order of a "wait" account returns why it waits, for its status_detail.
    """
    if policy not in OUTSIDE_SESSION_POLICIES:
        raise ValueError(f"outside_session must be one of {OUTSIDE_SESSION_POLICIES}, "
                         f"was {policy!r}")
    if calendar.is_open(exchange, at) or not (market or immediate):
        return None
    opens = calendar.next_open(exchange, at)
    if immediate or policy == REJECT:
        why = ("an IOC or FOK order cannot execute while it is closed" if immediate else
               "this account rejects MARKET orders outside the session")
        raise InvalidOrder(
            f"{exchange} is closed; it opens at {opens.isoformat()} ({why})",
            code="market_closed",
            details={"field": "time_in_force" if immediate else "order_type",
                     "exchange": exchange, "next_open": opens.isoformat()})
    return waiting_for_open(exchange, opens)


def waiting_for_open(exchange: str, opens: datetime) -> str:
    """The status_detail of a MARKET order waiting for its exchange to open."""
    return f"waits for the {exchange} open at {opens.isoformat()}"
