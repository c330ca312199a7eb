"""The paper exchange's matching rule, pure: what happens to an order against a quote."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.domain.enums import OrderType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book."""

    bid: Decimal
    ask: Decimal
    last: Decimal


class Action(StrEnum):
    FILL = "FILL"
    REST = "REST"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class Decision:
    """FILL at `price`, REST on the book (ACCEPTED), or CANCEL with a reason (IOC/FOK)."""

    action: Action
    price: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PaperOrder:
    """The parts of an order the matching rule looks at."""

    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal | None
    stop_price: Decimal | None


def _triggered(order: PaperOrder, quote: Quote) -> bool:
    if order.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        return True
    assert order.stop_price is not None
    # A buy stop triggers when the market trades up to it, a sell stop when it trades down to it.
    if order.side is Side.BUY:
        return quote.ask >= order.stop_price
    return quote.bid <= order.stop_price


def _executable_price(order: PaperOrder, quote: Quote) -> Decimal | None:
    touch = quote.ask if order.side is Side.BUY else quote.bid
    if order.order_type in (OrderType.MARKET, OrderType.STOP):
        return touch
    assert order.price is not None
    marketable = touch <= order.price if order.side is Side.BUY else touch >= order.price
    # A marketable limit fills at the touch: the price improvement goes to the client.
    return touch if marketable else None


def decide(order: PaperOrder, quote: Quote) -> Decision:
    """Fill the whole order at the touch if it can execute now; else rest it or cancel it."""
    price = _executable_price(order, quote) if _triggered(order, quote) else None
    if price is not None:
        return Decision(Action.FILL, price=price)
    if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        return Decision(Action.CANCEL,
                        reason=f"{order.time_in_force.value} order could not fill at once")
    return Decision(Action.REST)
