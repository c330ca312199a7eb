"""Stops, trailing stops and the triggers an open order waits for (pure domain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain import events as ev
from shared.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from shared.domain.errors import InvalidTransition
from shared.domain.orders import Order, apply, trailing_stop_price
from shared.domain.triggers import Direction, Trigger, trigger_of
from tests.unit.factories import T0, fill, new_order

S = OrderStatus


def paper(order_type: OrderType, side: Side = Side.BUY, status: OrderStatus = S.ACCEPTED,
          **fields: Any) -> Order:
    shapes: dict[OrderType, dict[str, Any]] = {
        OrderType.MARKET: {"price": None},
        OrderType.LIMIT: {"price": Decimal(10)},
        OrderType.STOP: {"price": None, "stop_price": Decimal(11)},
        OrderType.STOP_LIMIT: {"price": Decimal(12), "stop_price": Decimal(11)},
        OrderType.TRAILING_STOP: {"price": None, "trail_price": Decimal(1)},
    }
    return replace(new_order(side=side), order_type=order_type, status=status,
                   **{**shapes[order_type], **fields})


@pytest.mark.parametrize(("order_type", "side", "status", "direction", "level"), [
    (OrderType.LIMIT, Side.BUY, S.ACCEPTED, Direction.AT_OR_BELOW, "10"),
    (OrderType.LIMIT, Side.SELL, S.ACCEPTED, Direction.AT_OR_ABOVE, "10"),
    (OrderType.LIMIT, Side.BUY, S.PARTIALLY_FILLED, Direction.AT_OR_BELOW, "10"),
    (OrderType.MARKET, Side.BUY, S.PARTIALLY_FILLED, Direction.ANY, None),
    (OrderType.STOP, Side.BUY, S.ACCEPTED, Direction.AT_OR_ABOVE, "11"),
    (OrderType.STOP, Side.SELL, S.ACCEPTED, Direction.AT_OR_BELOW, "11"),
    (OrderType.STOP, Side.BUY, S.TRIGGERED, Direction.ANY, None),  # now a MARKET order
    (OrderType.STOP_LIMIT, Side.BUY, S.ACCEPTED, Direction.AT_OR_ABOVE, "11"),
    (OrderType.STOP_LIMIT, Side.BUY, S.TRIGGERED, Direction.AT_OR_BELOW, "12"),  # a LIMIT now
    (OrderType.STOP_LIMIT, Side.SELL, S.TRIGGERED, Direction.AT_OR_ABOVE, "12"),
    (OrderType.TRAILING_STOP, Side.BUY, S.ACCEPTED, Direction.ANY, None),  # no mark yet
])
def test_a_resting_paper_order_waits_on_the_book_for_its_price(
        order_type: OrderType, side: Side, status: OrderStatus, direction: Direction,
        level: str | None) -> None:
    trigger = trigger_of(paper(order_type, side, status))
    assert trigger is not None
    assert (trigger.direction, trigger.level) == (
        direction, None if level is None else Decimal(level))


def test_a_pending_cancel_keeps_the_order_on_the_book_where_it_worked() -> None:
    waiting = apply(paper(OrderType.STOP, Side.SELL), ev.CancelRequested())
    assert trigger_of(waiting) == Trigger(Direction.AT_OR_BELOW, Decimal(11), None, None)


@pytest.mark.parametrize("status", [S.PENDING_NEW, S.FILLED, S.CANCELED, S.EXPIRED,
                                    S.REJECTED])
def test_an_order_not_yet_working_or_ended_waits_for_nothing(status: OrderStatus) -> None:
    assert trigger_of(paper(OrderType.LIMIT, status=status,
                            expire_at=T0 + timedelta(hours=1))) is None


def test_an_order_at_a_real_broker_is_never_on_the_paper_book() -> None:
    assert trigger_of(paper(OrderType.LIMIT, broker="zerodha")) is None


def test_an_expiring_order_carries_its_time() -> None:
    at = T0 + timedelta(hours=2)
    gtd = paper(OrderType.LIMIT, time_in_force=TimeInForce.GTD, expire_at=at)
    assert trigger_of(gtd) == Trigger(Direction.AT_OR_BELOW, Decimal(10), None, at)


def test_a_stop_triggers_once_and_then_fills() -> None:
    stop = paper(OrderType.STOP, Side.SELL)
    hit = apply(stop, ev.Triggered(Decimal("10.95")))
    assert hit.status is S.TRIGGERED
    with pytest.raises(InvalidTransition, match="cannot take Triggered while TRIGGERED"):
        apply(hit, ev.Triggered(Decimal("10.90")))
    done = apply(hit, fill("T-1", "100", "10.90"))
    assert (done.status, done.avg_fill_price) == (S.FILLED, Decimal("10.90"))


def test_a_limit_order_has_no_stop_to_trigger() -> None:
    with pytest.raises(InvalidTransition, match="a LIMIT order has no stop to trigger"):
        apply(paper(OrderType.LIMIT), ev.Triggered(Decimal(10)))


def test_a_trigger_while_a_cancel_waits_is_remembered_for_a_refused_cancel() -> None:
    waiting = apply(paper(OrderType.STOP), ev.CancelRequested())
    hit = apply(waiting, ev.Triggered(Decimal(11)))
    assert (hit.status, hit.previous_status) == (S.PENDING_CANCEL, S.TRIGGERED)
    assert apply(hit, ev.CancelRejected("too late")).status is S.TRIGGERED


def test_a_sell_trailing_stop_follows_the_highest_bid_only_upwards() -> None:
    trailing = paper(OrderType.TRAILING_STOP, Side.SELL, trail_price=Decimal("0.50"))
    marked = apply(trailing, ev.WaterMarkMoved(Decimal(20)))
    assert (marked.hwm, trailing_stop_price(marked)) == (Decimal(20), Decimal("19.50"))
    higher = apply(marked, ev.WaterMarkMoved(Decimal("20.40")))
    assert trailing_stop_price(higher) == Decimal("19.90")
    assert apply(higher, ev.WaterMarkMoved(Decimal("20.10"))) is higher  # a lower bid: no move
    assert trigger_of(higher) == Trigger(Direction.AT_OR_BELOW, Decimal("19.90"),
                                         Decimal("20.40"), None)


def test_a_buy_trailing_stop_in_percent_follows_the_lowest_ask_only_downwards() -> None:
    trailing = paper(OrderType.TRAILING_STOP, Side.BUY, trail_price=None,
                     trail_percent=Decimal(2))
    marked = apply(trailing, ev.WaterMarkMoved(Decimal(50)))
    assert trailing_stop_price(marked) == Decimal(51)
    lower = apply(marked, ev.WaterMarkMoved(Decimal(40)))
    assert trailing_stop_price(lower) == Decimal("40.8")
    assert apply(lower, ev.WaterMarkMoved(Decimal(45))) is lower


def test_a_triggered_trailing_stop_no_longer_follows_the_market() -> None:
    marked = apply(paper(OrderType.TRAILING_STOP, Side.SELL), ev.WaterMarkMoved(Decimal(20)))
    hit = apply(marked, ev.Triggered(Decimal(19)))
    with pytest.raises(InvalidTransition):
        apply(hit, ev.WaterMarkMoved(Decimal(25)))
    assert trigger_of(hit) == Trigger(Direction.ANY, None, None, None)


def test_only_a_trailing_stop_has_a_water_mark() -> None:
    with pytest.raises(InvalidTransition, match="only a trailing stop has a water mark"):
        apply(paper(OrderType.STOP), ev.WaterMarkMoved(Decimal(20)))
