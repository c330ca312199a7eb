"""Holdings as brokers mean them: when a day settles, which BUYs are still unsettled, and what
a symbol's trades leave settled and unsettled."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from shared.domain.enums import Side
from shared.domain.portfolio import Trade
from shared.domain.sessions import Calendar
from shared.domain.settlement import (
    Holding,
    holding,
    holdings,
    last_closed_day,
    settlement_days,
    unsettled_since,
)

D = Decimal
NSE = Calendar.build(holidays={"NSE": [date(2026, 11, 9)]})  # a Monday holiday


def buy(quantity: int, price: int = 100) -> Trade:
    return Trade(Side.BUY, D(quantity), D(price), D(0))


def sell(quantity: int, price: int = 100) -> Trade:
    return Trade(Side.SELL, D(quantity), D(price), D(0))


def test_nse_and_bse_settle_t_plus_1_unless_the_rules_say_otherwise() -> None:
    assert settlement_days("NSE", {}) == settlement_days("bse", {}) == 1
    assert settlement_days("nse", {"NSE": 2}) == 2


def test_the_day_to_settle_is_the_last_whose_session_closed() -> None:
    # NSE closes at 15:30 in Kolkata (10:00 UTC).
    assert last_closed_day(NSE, "NSE", datetime(2026, 11, 3, 10, 0, tzinfo=UTC)) == date(
        2026, 11, 3)
    assert last_closed_day(NSE, "NSE", datetime(2026, 11, 3, 9, 59, tzinfo=UTC)) == date(
        2026, 11, 2)
    # Saturday and a Monday holiday are no trading days: the Friday before.
    assert last_closed_day(NSE, "NSE", datetime(2026, 11, 9, 12, 0, tzinfo=UTC)) == date(
        2026, 11, 6)


def test_the_unsettled_window_is_the_last_days_trading_days() -> None:
    tuesday = date(2026, 11, 10)
    assert unsettled_since(NSE, "NSE", tuesday, 1) == tuesday
    # T+2 on the Tuesday after a Monday holiday reaches back to the Friday.
    assert unsettled_since(NSE, "NSE", tuesday, 2) == date(2026, 11, 6)
    assert unsettled_since(NSE, "NSE", tuesday, 0) == date(2026, 11, 11)


def test_recent_buys_are_t1_and_a_sell_takes_settled_shares_first() -> None:
    held = holding([(buy(10, 100), False), (buy(5, 130), True), (sell(3), True)])

    assert held == Holding(quantity=D(7), t1_quantity=D(5), avg_price=D(110))


def test_unsettled_shares_are_at_most_what_is_held() -> None:
    assert holding([(buy(4), True), (sell(3), True)]) == Holding(D(0), D(1), D(100))


def test_nothing_held_or_a_short_position_is_no_holding() -> None:
    assert holding([(buy(2), False), (sell(2), True)]) is None
    assert holding([(sell(2), False)]) is None
    assert holding([]) is None


def test_each_key_is_held_on_its_own_trades() -> None:
    found = holdings([("a", buy(3), False), ("b", buy(2), True), ("a", sell(3), True)])

    assert found == {"b": Holding(D(0), D(2), D(100))}
