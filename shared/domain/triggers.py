"""What an open order waits for without being asked: a price on the paper book, or a time.

The repository keeps one `order_triggers` row per order whose `trigger_of` is not None, in step
with every save, so the paper exchange finds the orders a quote acts on through an index, and the
expiry task finds the orders whose time ran out, without scanning every open order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from shared.domain.enums import OrderStatus, OrderType, Side
from shared.domain.orders import STOP_TYPES, Order, is_terminal, trailing_stop_price

_S = OrderStatus


class Direction(StrEnum):
    """Where the touch (the ask for a BUY, the bid for a SELL) must be for the order to act."""

    AT_OR_BELOW = "le"  # a BUY limit, a SELL stop
    AT_OR_ABOVE = "ge"  # a SELL limit, a BUY stop
    ANY = "any"  # a MARKET order (or a triggered stop) waiting for size


@dataclass(frozen=True, slots=True)
class Trigger:
    """An order's row in `order_triggers`."""

    direction: Direction | None  # None: not on the paper book (a real broker's order)
    level: Decimal | None  # the price for AT_OR_BELOW / AT_OR_ABOVE
    mark: Decimal | None  # a trailing stop's water mark: a better quote moves it
    expire_at: datetime | None


def is_untriggered_stop(order: Order) -> bool:
    """True for a stop order whose stop has not been hit yet."""
    return order.order_type in STOP_TYPES and order.working_status in (_S.SUBMITTED,
                                                                       _S.ACCEPTED)


def trigger_of(order: Order) -> Trigger | None:
    """The trigger row an order needs now, or None (not open, or nothing to wait for)."""
    if order.status is _S.PENDING_NEW or is_terminal(order.status):
        return None
    direction, level, mark = _book(order) if order.is_paper else (None, None, None)
    expire_at = order.expire_at if order.is_paper else None
    if direction is None and expire_at is None:
        return None
    return Trigger(direction, level, mark, expire_at)


def _book(order: Order) -> tuple[Direction, Decimal | None, Decimal | None]:
    buy = order.side is Side.BUY
    if is_untriggered_stop(order):
        if order.order_type is OrderType.TRAILING_STOP:
            stop = trailing_stop_price(order)
            if stop is None:  # no water mark yet: the next quote sets it
                return Direction.ANY, None, None
            return (Direction.AT_OR_ABOVE if buy else Direction.AT_OR_BELOW), stop, order.hwm
        assert order.stop_price is not None, "a stop order has a stop price"
        return (Direction.AT_OR_ABOVE if buy else Direction.AT_OR_BELOW), order.stop_price, None
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert order.price is not None, "a limit order has a limit price"
        return (Direction.AT_OR_BELOW if buy else Direction.AT_OR_ABOVE), order.price, None
    return Direction.ANY, None, None
