"""OHLC bar rules: where bins start, and the range one request may cover."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from shared.domain.bars import (
    MAX_RANGE,
    Interval,
    InvalidMarketQuery,
    bar_origin,
    check_range,
    whole_minutes,
)
from shared.market.tick_files import symbol_of


def test_bars_of_an_nse_symbol_start_at_its_0915_open_on_the_local_day() -> None:
    # 02:00 UTC is already 07:30 in Kolkata on the 5th.
    start = datetime.fromisoformat("2026-11-05T02:00:00+00:00")

    origin = bar_origin(start, "Asia/Kolkata", time(9, 15))

    assert origin.isoformat() == "2026-11-05T09:15:00+05:30"


def test_bars_of_an_exchange_without_hours_start_at_utc_midnight() -> None:
    origin = bar_origin(datetime.fromisoformat("2026-11-05T23:59:00-05:00"), None, None)

    assert origin.isoformat() == "2026-11-06T00:00:00+00:00"


def test_a_week_of_minute_bars_is_allowed_and_a_minute_more_refused() -> None:
    start = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    check_range(start, start + timedelta(days=7), MAX_RANGE[Interval.M1], "1m bars")

    with pytest.raises(InvalidMarketQuery, match="1m bars cover at most 7 days") as refused:
        check_range(start, start + timedelta(days=7, minutes=1), MAX_RANGE[Interval.M1],
                    "1m bars")
    assert refused.value.code == "range_too_long"


def test_a_tick_file_is_named_for_its_symbol_whatever_its_folder_or_case() -> None:
    assert [symbol_of(name) for name in ("RELIANCE.csv", "day2/infy.CSV", "NFO:NIFTY.csv")] == [
        "RELIANCE", "INFY", "NFO:NIFTY"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_minute_bars_from_a_minute_aligned_origin_read_the_whole_minutes_inside_the_range() -> None:
    origin = bar_origin(_at("2026-11-05T02:00:00+00:00"), "Asia/Kolkata", time(9, 15))

    inner = whole_minutes(timedelta(minutes=15), origin, _at("2026-11-05T03:45:20.5+00:00"),
                          _at("2026-11-05T10:00:59+00:00"))
    aligned = whole_minutes(timedelta(days=1), origin, _at("2026-11-05T00:00:00+00:00"),
                            _at("2026-11-06T00:00:00+00:00"))

    assert inner == (_at("2026-11-05T03:46:00+00:00"), _at("2026-11-05T10:00:00+00:00"))
    assert aligned == (_at("2026-11-05T00:00:00+00:00"), _at("2026-11-06T00:00:00+00:00"))


def test_bars_that_would_cut_a_minute_read_no_rollup() -> None:
    start, end = _at("2026-11-05T00:00:00+00:00"), _at("2026-11-05T01:00:00+00:00")
    # Kolkata kept Madras time (+05:21:10) in 1900: a session open then is off the minute.
    old_origin = bar_origin(_at("1900-01-02T02:00:00+00:00"), "Asia/Kolkata", time(9, 15))

    assert whole_minutes(timedelta(seconds=90), start, start, end) is None
    assert whole_minutes(timedelta(minutes=1), start + timedelta(seconds=1), start, end) is None
    assert whole_minutes(timedelta(minutes=1), old_origin, start, end) is None
    assert whole_minutes(timedelta(minutes=1), start, start + timedelta(seconds=10),
                         start + timedelta(seconds=50)) is None
    assert whole_minutes(timedelta(minutes=1), start, start + timedelta(seconds=10),
                         start + timedelta(seconds=70)) == (start + timedelta(minutes=1),) * 2
