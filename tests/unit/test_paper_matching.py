"""The paper exchange's matching rules: what a quote fills, at what price and size, what it
triggers, what it rests or cancels, and who goes first."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.fees import FeeSchedule
from shared.domain.orders import Change, Order, apply
from shared.settings import Settings
from tests.unit.factories import T0, new_order
from worker.brokers.paper.matching import Match, Quote, Slippage, match, plan, slipped, trade_id

D = Decimal
S = OrderStatus
QUOTE = Quote(bid=D("99.99"), ask=D("100.01"), last=D("100.00"), bid_size=D(500),
              ask_size=D(500), seq=7)
BUY, SELL = Side.BUY, Side.SELL
MKT, LMT, STP, STL, TRL = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP,
                           OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


def working(side: Side, kind: OrderType, quantity: str = "100", *, price: str | None = None,
            stop: str | None = None, tif: TimeInForce = TimeInForce.DAY,
            **fields: Any) -> Order:
    """A paper order as the exchange holds it once accepted."""
    order = new_order(quantity, side=side, order_type=kind,
                      price=D(price) if price else None, stop_price=D(stop) if stop else None,
                      time_in_force=tif, **fields)
    return Change(order).then(ev.Submitted("PAPER-1")).then(ev.Accepted()).after


def _names(events: tuple[ev.OrderEvent, ...]) -> list[str]:
    return [type(e).__name__ for e in events]


def _after(order: Order, events: tuple[ev.OrderEvent, ...]) -> Order:
    for event in events:
        order = apply(order, event)
    return order


def _fill(events: tuple[ev.OrderEvent, ...]) -> tuple[str, str] | None:
    fills = [e for e in events if isinstance(e, ev.Filled)]
    assert len(fills) <= 1
    return (str(fills[0].quantity), str(fills[0].price)) if fills else None


# (order, size available at its touch, events, (quantity, price) filled, status after)
ARRIVING = [
    (working(BUY, MKT), "500", ["Filled"], ("100", "100.01"), S.FILLED),
    (working(BUY, MKT), "40", ["Filled"], ("40", "100.01"), S.PARTIALLY_FILLED),
    (working(BUY, MKT), "0", [], None, S.ACCEPTED),
    (working(SELL, MKT), "40", ["Filled"], ("40", "99.99"), S.PARTIALLY_FILLED),
    (working(SELL, MKT, "30"), "500", ["Filled"], ("30", "99.99"), S.FILLED),
    (working(BUY, LMT, price="101"), "500", ["Filled"], ("100", "100.01"), S.FILLED),
    (working(BUY, LMT, price="100.01"), "60", ["Filled"], ("60", "100.01"),
     S.PARTIALLY_FILLED),
    (working(BUY, LMT, price="100"), "500", [], None, S.ACCEPTED),
    (working(SELL, LMT, price="99"), "500", ["Filled"], ("100", "99.99"), S.FILLED),
    (working(SELL, LMT, price="100"), "500", [], None, S.ACCEPTED),
    (working(BUY, STP, stop="100"), "500", ["Triggered", "Filled"], ("100", "100.01"),
     S.FILLED),
    (working(BUY, STP, stop="100"), "0", ["Triggered"], None, S.TRIGGERED),
    (working(BUY, STP, stop="105"), "500", [], None, S.ACCEPTED),
    (working(SELL, STP, stop="100"), "20", ["Triggered", "Filled"], ("20", "99.99"),
     S.PARTIALLY_FILLED),
    (working(SELL, STP, stop="95"), "500", [], None, S.ACCEPTED),
    (working(BUY, STL, price="100.5", stop="100"), "500", ["Triggered", "Filled"],
     ("100", "100.01"), S.FILLED),
    (working(BUY, STL, price="100", stop="100"), "500", ["Triggered"], None, S.TRIGGERED),
    (working(SELL, STL, price="99.5", stop="100"), "500", ["Triggered", "Filled"],
     ("100", "99.99"), S.FILLED),
    (working(BUY, LMT, price="101", tif=TimeInForce.IOC), "40", ["Filled", "Canceled"],
     ("40", "100.01"), S.CANCELED),
    (working(BUY, LMT, price="90", tif=TimeInForce.IOC), "500", ["Canceled"], None,
     S.CANCELED),
    (working(SELL, MKT, tif=TimeInForce.IOC), "500", ["Filled"], ("100", "99.99"), S.FILLED),
    (working(BUY, LMT, price="101", tif=TimeInForce.FOK), "99", ["Canceled"], None,
     S.CANCELED),
    (working(BUY, LMT, price="101", tif=TimeInForce.FOK), "100", ["Filled"],
     ("100", "100.01"), S.FILLED),
    (working(SELL, MKT, tif=TimeInForce.FOK), "0", ["Canceled"], None, S.CANCELED),
    (working(SELL, TRL, trail_price=D(1)), "500", ["WaterMarkMoved"], None, S.ACCEPTED),
    (working(BUY, TRL, trail_percent=D(2)), "500", ["WaterMarkMoved"], None, S.ACCEPTED),
]


@pytest.mark.parametrize(("order", "available", "names", "filled", "status"), ARRIVING)
def test_an_arriving_order_trades_on_the_quote_within_the_size_at_the_touch(
        order: Order, available: str, names: list[str], filled: tuple[str, str] | None,
        status: OrderStatus) -> None:
    result = match(order, QUOTE, D(available), T0, arriving=True)
    assert _names(result.events) == names
    assert _fill(result.events) == filled
    assert result.used == (D(filled[0]) if filled else 0)
    assert _after(order, result.events).status is status


@pytest.mark.parametrize(("tif", "available", "reason"), [
    (TimeInForce.IOC, "500", "IOC order could not fill at once"),
    (TimeInForce.FOK, "500", "FOK order could not fill at once"),
    (TimeInForce.IOC, "0", "IOC order could not fill at once"),
])
def test_an_immediate_order_that_cannot_trade_is_canceled_saying_why(
        tif: TimeInForce, available: str, reason: str) -> None:
    price = "90" if available == "500" else "101"
    result = match(working(BUY, LMT, price=price, tif=tif), QUOTE, D(available), T0,
                   arriving=True)
    assert result.events == (ev.Canceled(reason),)


def test_the_rest_of_an_ioc_is_canceled_saying_what_filled() -> None:
    result = match(working(BUY, MKT, tif=TimeInForce.IOC), QUOTE, D(40), T0, arriving=True)
    assert result.events[-1] == ev.Canceled(
        "IOC order filled 40 of 100 at once; the rest is canceled")


def test_a_fok_short_of_size_says_how_much_there_was() -> None:
    result = match(working(SELL, MKT, tif=TimeInForce.FOK), QUOTE, D(60), T0, arriving=True)
    assert result.events == (ev.Canceled(
        "FOK order could not fill in full at once: 60 available at 99.99, 100 wanted"),)


def test_a_fill_names_the_quote_it_traded_on() -> None:
    order = working(BUY, MKT)
    [fill] = match(order, QUOTE, D(500), T0).events
    assert isinstance(fill, ev.Filled)
    assert fill.trade_id == trade_id(order.id, 7) == f"{order.id.hex}-7"
    assert fill.at == T0


def test_an_order_takes_nothing_more_from_a_quote_it_already_traded_on() -> None:
    order = working(BUY, MKT)
    first = match(order, QUOTE, D(30), T0)
    again = match(_after(order, first.events), QUOTE, D(470), T0)
    assert again == Match()
    later = match(_after(order, first.events), replace(QUOTE, seq=8), D(470), T0)
    assert _fill(later.events) == ("70", "100.01")


@pytest.mark.parametrize("status", [S.CANCELED, S.EXPIRED, S.FILLED, S.REJECTED])
def test_a_finished_order_is_never_filled_by_a_quote(status: OrderStatus) -> None:
    order = replace(working(BUY, LMT, price="101"), status=status)
    assert match(order, QUOTE, D(500), T0) == match(order, QUOTE, D(500), T0, arriving=True)
    assert match(order, QUOTE, D(500), T0).events == ()


def test_an_order_at_a_real_broker_is_never_matched_here() -> None:
    order = replace(working(BUY, MKT), broker="zerodha")
    assert match(order, QUOTE, D(500), T0).events == ()


def test_a_pending_cancel_still_fills_on_its_old_terms() -> None:
    order = apply(working(SELL, LMT, price="99"), ev.CancelRequested())
    result = match(order, QUOTE, D(500), T0)
    assert _after(order, result.events).status is S.FILLED


# ---------------------------------------------------------------- trailing stops


def _trailing_sell(hwm: str) -> Order:
    return working(SELL, TRL, trail_price=D(1), hwm=D(hwm))


@pytest.mark.parametrize(("bid", "names", "hwm", "status"), [
    ("100.50", ["WaterMarkMoved"], "100.50", S.ACCEPTED),  # a higher bid: the mark follows
    ("99.50", [], "100", S.ACCEPTED),  # lower, but above the stop at 99: nothing
    ("99.00", ["Triggered", "Filled"], "100", S.FILLED),  # at the stop: triggered, filled
])
def test_a_trailing_sell_follows_the_highest_bid_and_triggers_its_trail_below_it(
        bid: str, names: list[str], hwm: str, status: OrderStatus) -> None:
    order = _trailing_sell("100")
    quote = replace(QUOTE, bid=D(bid), ask=D(bid) + D("0.02"))
    result = match(order, quote, D(500), T0)
    after = _after(order, result.events)
    assert _names(result.events) == names
    assert (after.hwm, after.status) == (D(hwm), status)


def test_a_trailing_buy_follows_the_lowest_ask_and_triggers_its_percent_above_it() -> None:
    order = working(BUY, TRL, trail_percent=D(5), hwm=D(100))
    lower = match(order, replace(QUOTE, ask=D(90), bid=D("89.98")), D(500), T0)
    followed = _after(order, lower.events)
    assert followed.hwm == D(90)
    rise = replace(QUOTE, ask=D("94.5"), bid=D("94.48"))  # 90 + 5%
    result = match(followed, rise, D(500), T0)
    assert _names(result.events) == ["Triggered", "Filled"]
    assert _fill(result.events) == ("100", "94.5")


# ---------------------------------------------------------------- priority and size


def test_the_book_fills_in_price_time_priority_within_the_size_of_each_side() -> None:
    def buy(kind: OrderType, price: str | None, minutes: int) -> tuple[Order, Any]:
        return working(BUY, kind, price=price), T0 + timedelta(minutes=minutes)

    late_101, best_102, early_101, market = (buy(LMT, "101", 2), buy(LMT, "102", 3),
                                             buy(LMT, "101", 1), buy(MKT, None, 4))
    seller = (working(SELL, LMT, "300", price="99"), T0)
    quote = replace(QUOTE, ask_size=D(250), bid_size=D(120))
    result = plan([late_101, best_102, early_101, market, seller], quote, T0)
    filled = {order.id: _fill(m.events) for order, m in result.matches}
    assert filled == {market[0].id: ("100", "100.01"), best_102[0].id: ("100", "100.01"),
                      early_101[0].id: ("50", "100.01"), seller[0].id: ("120", "99.99")}
    assert (result.ask_used, result.bid_used) == (D(250), D(120))


def test_a_quote_with_no_size_fills_nothing_but_still_triggers_and_trails() -> None:
    stop = (working(SELL, STP, stop="100"), T0)
    trail = (working(SELL, TRL, trail_price=D(1), hwm=D(99)), T0)
    result = plan([stop, trail], replace(QUOTE, bid_size=D(0)), T0)
    assert {order.id: _names(m.events) for order, m in result.matches} == {
        stop[0].id: ["Triggered"], trail[0].id: ["WaterMarkMoved"]}
    assert result.bid_used == 0


def test_an_order_the_domain_refuses_is_left_out_and_the_rest_of_the_book_trades() -> None:
    # Inconsistent on purpose: filled in full yet still ACCEPTED, so the domain refuses a fill.
    broken = (replace(working(BUY, MKT), filled_quantity=D(100)), T0)
    fine = (working(BUY, MKT), T0 + timedelta(minutes=1))
    result = plan([broken, fine], QUOTE, T0)
    assert [order.id for order, _ in result.refused] == [broken[0].id]
    assert [order.id for order, _ in result.matches] == [fine[0].id]


# ---------------------------------------------------------------- slippage


def test_market_orders_slip_by_the_basis_points_away_from_the_client_on_the_tick() -> None:
    ten = Slippage(bps=D(10))
    assert slipped(D("100.01"), BUY, D("0.01"), "t", ten) == D("100.12")
    assert slipped(D("99.99"), SELL, D("0.01"), "t", ten) == D("99.89")
    assert slipped(D("99.99"), SELL, D("0.01"), "t", Slippage()) == D("99.99")
    [fill] = match(working(BUY, MKT), QUOTE, D(500), T0, slippage=ten).events
    assert isinstance(fill, ev.Filled)
    assert fill.price == D("100.12")


def test_limit_orders_never_slip() -> None:
    result = match(working(BUY, LMT, price="100.01"), QUOTE, D(500), T0,
                   slippage=Slippage(bps=D(50)))
    assert _fill(result.events) == ("100", "100.01")


def test_seeded_slippage_is_reproducible_per_trade_and_within_the_bound() -> None:
    seeded = Slippage(bps=D(100), seed=7)
    prices = [slipped(D(100), BUY, D("0.01"), f"trade-{n}", seeded) for n in range(50)]
    again = [slipped(D(100), BUY, D("0.01"), f"trade-{n}", seeded) for n in range(50)]
    assert prices == again
    assert all(D(100) <= p <= D(101) for p in prices)
    assert len(set(prices)) > 10  # random, not a constant


def test_slippage_beyond_the_market_order_cushion_is_refused_at_start() -> None:
    assert Settings(paper_slippage_bps=D(500), market_order_cushion=D("0.05"))
    with pytest.raises(ValidationError, match="must not exceed MARKET_ORDER_CUSHION"):
        Settings(paper_slippage_bps=D(501), market_order_cushion=D("0.05"))


# ---------------------------------------------------------------- what a BUY reserved


def test_a_market_buy_never_spends_more_than_it_reserved_when_the_ask_runs_away() -> None:
    # 100 shares reserved at about 105 each; the ask is now 210: the cash covers 50.
    resting = working(BUY, MKT, reserved_cash="10500")
    ran = Quote(bid=D("209.99"), ask=D("210.00"), last=D("210"), bid_size=D(500),
                ask_size=D(500), seq=8)
    result = match(resting, ran, D(500), T0)
    assert _fill(result.events) == ("50", "210.00")
    after = _after(resting, result.events)
    assert (after.status, after.filled_quantity) == (S.CANCELED, D(50))
    assert after.reject_reason == (
        "the ask 210 ran past the cash this order reserved: 50 of 100 filled, the rest is "
        "canceled")


def test_a_market_buys_cap_leaves_room_for_its_fee() -> None:
    fees = FeeSchedule(per_order=D(10))
    resting = working(BUY, MKT, "10", reserved_cash="1000")
    ran = replace(QUOTE, ask=D("100"), seq=9)
    result = match(resting, ran, D(500), T0, fees=fees)
    assert _fill(result.events) == ("9", "100")  # 9 × 100 + 10 ≤ 1000 < 10 × 100 + 10


def test_a_limit_buy_fills_in_full_whatever_the_rounding_of_its_reservation() -> None:
    resting = working(BUY, LMT, "3", price="100.01", reserved_cash="300.0299")
    assert _fill(match(resting, QUOTE, D(500), T0).events) == ("3", "100.01")
