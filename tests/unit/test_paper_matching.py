"""The paper exchange's matching rule: what fills, at what price, what rests, what is canceled."""

from decimal import Decimal

import pytest

from shared.domain.enums import OrderType, Side, TimeInForce
from worker.brokers.paper.matching import Action, PaperOrder, Quote, decide

QUOTE = Quote(bid=Decimal("99.99"), ask=Decimal("100.01"), last=Decimal("100.00"))
D = Decimal


def _order(side: Side, kind: OrderType, price: str | None = None, stop: str | None = None,
           tif: TimeInForce = TimeInForce.DAY) -> PaperOrder:
    return PaperOrder(side=side, order_type=kind, time_in_force=tif,
                      price=D(price) if price else None, stop_price=D(stop) if stop else None)


@pytest.mark.parametrize(
    ("order", "action", "price"),
    [
        (_order(Side.BUY, OrderType.MARKET), Action.FILL, "100.01"),
        (_order(Side.SELL, OrderType.MARKET), Action.FILL, "99.99"),
        (_order(Side.BUY, OrderType.LIMIT, "101"), Action.FILL, "100.01"),  # improved to the ask
        (_order(Side.BUY, OrderType.LIMIT, "100.01"), Action.FILL, "100.01"),
        (_order(Side.BUY, OrderType.LIMIT, "100"), Action.REST, None),
        (_order(Side.SELL, OrderType.LIMIT, "99"), Action.FILL, "99.99"),
        (_order(Side.SELL, OrderType.LIMIT, "100"), Action.REST, None),
        (_order(Side.BUY, OrderType.STOP, stop="100"), Action.FILL, "100.01"),  # triggered
        (_order(Side.BUY, OrderType.STOP, stop="105"), Action.REST, None),
        (_order(Side.SELL, OrderType.STOP, stop="100"), Action.FILL, "99.99"),
        (_order(Side.SELL, OrderType.STOP, stop="95"), Action.REST, None),
        (_order(Side.BUY, OrderType.STOP_LIMIT, "100.5", "100"), Action.FILL, "100.01"),
        (_order(Side.BUY, OrderType.STOP_LIMIT, "100", "100"), Action.REST, None),
        (_order(Side.BUY, OrderType.LIMIT, "100", tif=TimeInForce.GTC), Action.REST, None),
    ],
)
def test_orders_fill_at_the_touch_or_rest(order: PaperOrder, action: Action,
                                          price: str | None) -> None:
    decision = decide(order, QUOTE)
    assert decision.action is action
    assert decision.price == (D(price) if price else None)


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_immediate_orders_that_cannot_fill_are_canceled_with_a_reason(tif: TimeInForce) -> None:
    decision = decide(_order(Side.BUY, OrderType.LIMIT, "90", tif=tif), QUOTE)
    assert decision.action is Action.CANCEL
    assert decision.reason == f"{tif.value} order could not fill at once"


def test_marketable_ioc_fills() -> None:
    decision = decide(_order(Side.SELL, OrderType.LIMIT, "99.5", tif=TimeInForce.IOC), QUOTE)
    assert (decision.action, decision.price) == (Action.FILL, D("99.99"))
