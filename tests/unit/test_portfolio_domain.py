"""The portfolio's pure functions: day P&L, a journaled trade's cash, rebuilding a position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder
from shared.domain.portfolio import (
    Realized,
    Trade,
    check_trade,
    day_pnl,
    day_start,
    realized_inside,
    realized_steps,
    replay,
    trade_cash,
)
from shared.domain.positions import Position, apply_fill

D = Decimal
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def test_a_buy_earns_the_rise_of_the_mark_and_a_sell_what_it_sold_above_it() -> None:
    trades = [Trade(Side.BUY, D(10), D(100), D("1.5")), Trade(Side.SELL, D(4), D(110), D(0))]

    assert day_pnl(trades, D(105)) == D(50) - D("1.5") + D(20)


def test_without_a_mark_only_the_charges_count() -> None:
    assert day_pnl([Trade(Side.BUY, D(10), D(100), D(2))], None) == D(-2)


def test_the_day_starts_at_midnight_in_the_users_time_zone() -> None:
    start = day_start(datetime(2026, 12, 2, 20, 0, tzinfo=UTC), "Asia/Kolkata")

    assert start.isoformat() == "2026-12-03T00:00:00+05:30"


def test_a_trade_moves_cash_by_its_amount_less_its_charges() -> None:
    assert trade_cash(Trade(Side.BUY, D(3), D("10.5"), D(1))) == D("-32.5")
    assert trade_cash(Trade(Side.SELL, D(3), D("10.5"), D(1))) == D("30.5")


def test_replay_equals_the_fills_applied_one_by_one() -> None:
    trades = [Trade(Side.BUY, D(10), D(100), D(0)), Trade(Side.BUY, D(5), D(130), D(0)),
              Trade(Side.SELL, D(20), D(120), D(0))]
    folded = Position.flat()
    for t in trades:
        folded = apply_fill(folded, t.side, t.quantity, t.price)

    assert replay(trades) == folded
    assert replay([]) == Position.flat()


def test_each_step_realizes_what_it_closed() -> None:
    trades = [Trade(Side.BUY, D(10), D(100), D(0)), Trade(Side.SELL, D(4), D(110), D(0)),
              Trade(Side.SELL, D(6), D(90), D(0))]

    assert realized_steps(trades) == [D(0), D(40), D(-60)]
    assert sum(realized_steps(trades)) == replay(trades).realized_pnl


@pytest.mark.parametrize(("quantity", "price", "charge", "at", "field"), [
    ("0", "10", "0", NOW, "quantity"), ("5", "-1", "0", NOW, "price"),
    ("5", "10", "-0.01", NOW, "brokerage_charge"),
    ("5", "10", "0", NOW + timedelta(seconds=1), "executed_at"),
    # price × quantity past what one order may be worth (the ledger's cash could not hold it)
    ("473758649.15", "848495775.52", "0", NOW, "quantity"),
    ("1000000000", "1000.00000001", "0", NOW, "quantity"),
])
def test_a_trade_no_one_could_have_done_is_refused_naming_its_field(
    quantity: str, price: str, charge: str, at: datetime, field: str,
) -> None:
    with pytest.raises(InvalidOrder) as refused:
        check_trade(D(quantity), D(price), {"brokerage_charge": D(charge)}, at, NOW)

    assert (refused.value.code, refused.value.details) == ("invalid_trade", {"field": field})


def test_a_trade_of_now_or_before_passes() -> None:
    check_trade(D(1), D(1), {"brokerage_charge": D(0), "mtf_charge": D(0)}, NOW, NOW)


def test_a_trade_worth_exactly_the_most_an_order_may_be_passes() -> None:
    check_trade(D(1_000_000_000), D(1000), {}, NOW, NOW)


def test_a_period_counts_its_own_trades_on_the_cost_built_before_it() -> None:
    trades = [Trade(Side.BUY, D(10), D(100), D(1)), Trade(Side.BUY, D(10), D(120), D(1)),
              Trade(Side.SELL, D(5), D(130), D(2)), Trade(Side.SELL, D(5), D(90), D("0.5"))]

    period = realized_inside(trades, [False, False, True, False])

    assert period == Realized(trades=1, realized_pnl=D(100), charges=D(2))
    assert period.net_pnl == D(98)
    assert realized_inside(trades, [False] * 4) == Realized(0, D(0), D(0))
