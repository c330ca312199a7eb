"""OHLC bar rules: where bins start, and the range one request may cover."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from shared.domain.bars import MAX_RANGE, Interval, InvalidMarketQuery, bar_origin, check_range
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
