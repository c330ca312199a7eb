"""Trading sessions: open and close per exchange in its own zone, weekends, holidays, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from shared.domain.errors import InvalidOrder
from shared.domain.sessions import Calendar, Hours

NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
CAL = Calendar.build()


def ny(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


@pytest.mark.parametrize(("at", "expected"), [
    (ny(2026, 12, 1, 9, 29, 59), False),   # Tuesday, a second before the open
    (ny(2026, 12, 1, 9, 30), True),        # the open itself trades
    (ny(2026, 12, 1, 15, 59, 59), True),
    (ny(2026, 12, 1, 16, 0), False),       # the close does not
    (ny(2026, 12, 5, 12, 0), False),       # Saturday
    (ny(2026, 12, 6, 12, 0), False),       # Sunday
])
def test_nyse_trades_from_0930_to_1600_new_york_on_weekdays(at: datetime, expected: bool) -> None:
    assert CAL.is_open("NYSE", at) is expected
    assert CAL.is_open("NASDAQ", at) is expected


def test_the_same_instant_in_utc_gives_the_same_answer() -> None:
    assert CAL.is_open("NYSE", datetime(2026, 12, 1, 14, 30, tzinfo=UTC))  # 09:30 EST
    assert not CAL.is_open("NYSE", datetime(2026, 12, 1, 14, 29, tzinfo=UTC))


@pytest.mark.parametrize(("utc_open", "day"), [
    (datetime(2026, 3, 6, 14, 30, tzinfo=UTC), date(2026, 3, 6)),   # Friday before, EST (UTC-5)
    (datetime(2026, 3, 9, 13, 30, tzinfo=UTC), date(2026, 3, 9)),   # Monday after, EDT (UTC-4)
    (datetime(2026, 10, 30, 13, 30, tzinfo=UTC), date(2026, 10, 30)),  # Friday, still EDT
    (datetime(2026, 11, 2, 14, 30, tzinfo=UTC), date(2026, 11, 2)),  # Monday, EST again
])
def test_the_open_stays_0930_local_across_daylight_saving_changes(utc_open: datetime,
                                                                  day: date) -> None:
    session = CAL.session_on("NYSE", day)
    assert session is not None
    assert session.opens_at == utc_open
    assert CAL.is_open("NYSE", utc_open)


def test_close_of_a_friday_after_hours_is_monday_close_across_the_dst_weekend() -> None:
    # DST starts Sunday 8 March 2026: Friday closes 21:00 UTC, Monday 20:00 UTC.
    assert CAL.close_of("NYSE", ny(2026, 3, 6, 17, 0)) == datetime(2026, 3, 9, 20, tzinfo=UTC)
    assert CAL.next_open("NYSE", ny(2026, 3, 6, 17, 0)) == datetime(2026, 3, 9, 13, 30,
                                                                     tzinfo=UTC)


def test_close_of_is_the_close_of_the_session_the_instant_is_in() -> None:
    assert CAL.close_of("NYSE", ny(2026, 12, 1, 15, 59, 58)) == ny(2026, 12, 1, 16, 0)
    assert CAL.close_of("NYSE", ny(2026, 12, 1, 7, 0)) == ny(2026, 12, 1, 16, 0)  # pre-market
    assert CAL.close_of("NYSE", ny(2026, 12, 1, 16, 0)) == ny(2026, 12, 2, 16, 0)


def test_next_open_mid_session_is_the_next_trading_days_open() -> None:
    assert CAL.next_open("NYSE", ny(2026, 12, 1, 12, 0)) == ny(2026, 12, 2, 9, 30)
    assert CAL.next_open("NYSE", ny(2026, 12, 1, 9, 30)) == ny(2026, 12, 1, 9, 30)
    assert CAL.next_open("NYSE", ny(2026, 12, 4, 16, 30)) == ny(2026, 12, 7, 9, 30)  # Fri → Mon


def test_a_holiday_is_closed_and_skipped() -> None:
    cal = Calendar.build(holidays={"NYSE": [date(2026, 12, 25)]})
    christmas_noon = ny(2026, 12, 25, 12, 0)
    assert not cal.is_open("NYSE", christmas_noon)
    assert cal.is_open("NASDAQ", christmas_noon)  # holidays are per exchange
    assert cal.next_open("NYSE", ny(2026, 12, 24, 16, 0)) == ny(2026, 12, 28, 9, 30)
    assert cal.close_of("NYSE", ny(2026, 12, 24, 16, 0)) == ny(2026, 12, 28, 16, 0)


def test_nse_trades_0915_to_1530_kolkata() -> None:
    assert CAL.is_open("NSE", datetime(2026, 12, 1, 9, 15, tzinfo=KOLKATA))
    assert CAL.is_open("NSE", datetime(2026, 12, 1, 3, 45, tzinfo=UTC))  # 09:15 IST
    assert not CAL.is_open("NSE", datetime(2026, 12, 1, 15, 30, tzinfo=KOLKATA))
    # While New York sleeps Mumbai trades, and the other way round.
    assert not CAL.is_open("NYSE", datetime(2026, 12, 1, 10, 0, tzinfo=KOLKATA))
    assert CAL.close_of("BSE", datetime(2026, 12, 1, 10, 0, tzinfo=KOLKATA)) == datetime(
        2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_kolkata_session_is_fixed_in_utc_the_year_round() -> None:
    # India keeps no daylight saving: 09:15 IST is 03:45 UTC in January and July alike.
    for day in (date(2026, 1, 5), date(2026, 7, 6)):
        session = CAL.session_on("NSE", day)
        assert session is not None
        assert session.opens_at == datetime.combine(day, time(3, 45), UTC)


def test_always_open_trades_at_night_but_day_orders_still_end_at_the_close() -> None:
    cal = Calendar.build(always_open=True)
    saturday = ny(2026, 12, 5, 3, 0)
    assert cal.is_open("NYSE", saturday)
    assert cal.close_of("NYSE", saturday) == ny(2026, 12, 7, 16, 0)


def test_configured_hours_replace_the_default() -> None:
    cal = Calendar.build(hours={"nyse": "America/New_York 10:00-13:00"})
    assert not cal.is_open("NYSE", ny(2026, 12, 1, 9, 45))
    assert cal.close_of("NYSE", ny(2026, 12, 1, 9, 45)) == ny(2026, 12, 1, 13, 0)
    assert cal.is_open("NASDAQ", ny(2026, 12, 1, 9, 45))


@pytest.mark.parametrize("text", ["America/New_York", "Mars/Olympus 09:30-16:00",
                                  "America/New_York 16:00-09:30", "America/New_York 9-5"])
def test_malformed_hours_are_refused_at_start(text: str) -> None:
    with pytest.raises(ValueError, match="session|zone"):
        Hours.parse(text)


def test_an_unknown_exchange_is_an_invalid_order_naming_it() -> None:
    with pytest.raises(InvalidOrder) as caught:
        CAL.is_open("LSE", ny(2026, 12, 1, 12, 0))
    assert caught.value.code == "unknown_exchange"
    assert caught.value.details["exchange"] == "LSE"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.close_of("NYSE", datetime(2026, 12, 1, 12, 0))  # noqa: DTZ001 - the point
