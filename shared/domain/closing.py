"""Closing a position: the side and quantity of the order that squares it off (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Final

from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder, NotFound
from shared.domain.values import ARITHMETIC, decimal_str, require_decimal, shown

INTRADAY: Final = "MIS"  # the Indian brokers' intraday margin product


@dataclass(frozen=True, slots=True)
class Close:
    """The MARKET order that closes (part of) a position."""

    side: Side
    quantity: Decimal


def close_order(position: Decimal, *, symbol: str, lot_size: Decimal,
                percentage: Decimal | None = None, quantity: Decimal | None = None) -> Close:
    """SELL a long, BUY back a short: all of it, `quantity` of it, or `percentage` of it.

    A percentage is rounded down to whole lots (never closing more than asked); one that
    comes to less than a lot is refused rather than rounded up.
    """
    require_decimal(position, field="position")
    if percentage is not None and quantity is not None:
        raise InvalidOrder("give percentage or quantity, not both",
                           details={"field": "percentage"})
    if position == 0:
        raise NotFound(f"you hold no {symbol} position to close",
                       code="position_not_found", details={"field": "symbol", "value": symbol})
    side = Side.SELL if position > 0 else Side.BUY
    held = abs(position)
    if quantity is not None:
        return Close(side, _part(held, quantity))
    if percentage is None or percentage == 100:
        return Close(side, held)
    return Close(side, _share(held, percentage, lot_size))


def _part(held: Decimal, quantity: Decimal) -> Decimal:
    require_decimal(quantity, field="quantity")
    if quantity <= 0:
        raise InvalidOrder(f"quantity must be positive, was {shown(quantity)}",
                           details={"field": "quantity"})
    if quantity > held:
        raise InvalidOrder(f"quantity {shown(quantity)} is more than the {shown(held)} held",
                           details={"field": "quantity", "held": str(held)})
    return quantity


def _share(held: Decimal, percentage: Decimal, lot_size: Decimal) -> Decimal:
    require_decimal(percentage, field="percentage")
    if not 0 < percentage <= 100:
        raise InvalidOrder(f"percentage must be more than 0 and at most 100, was "
                           f"{shown(percentage)}", details={"field": "percentage"})
    with localcontext(ARITHMETIC):
        lots = (held * percentage / 100 / lot_size).to_integral_value(rounding=ROUND_DOWN)
        part = lots * lot_size
    if part == 0:
        raise InvalidOrder(f"{shown(percentage)}% of the {shown(held)} held is less than one "
                           f"lot of {shown(lot_size)}", details={"field": "percentage"})
    return part


@dataclass(frozen=True, slots=True)
class Held:
    """A position at a broker with margin products, split as the broker splits it.

    ordergate nets a symbol's position across products; the broker keeps an intraday (MIS)
    position apart from delivery (CNC) holdings. Today's MIS fills are the intraday part (the
    broker squares MIS off at the close, so earlier days' never count); the rest is delivery.
    """

    position: Decimal  # signed: long > 0, short < 0
    intraday: Decimal  # signed net of today's MIS fills

    def parts(self) -> tuple[Decimal, Decimal]:
        """(intraday, delivery) as unsigned quantities of the position's side."""
        same_side = self.intraday * self.position > 0
        intraday = min(abs(self.intraday), abs(self.position)) if same_side else Decimal(0)
        with localcontext(ARITHMETIC):
            return intraday, abs(self.position) - intraday


def closing_product(held: Held, named: str | None) -> tuple[str | None, Decimal]:
    """The product a close must trade and the most it may close (unsigned).

    Closing an intraday position with a delivery order would sell holdings instead (or be
    refused), so the close trades the product that holds the position; when both do, the
    caller must name one. None: the broker's default (delivery).
    """
    intraday, delivery = held.parts()
    if named == INTRADAY or (named is None and delivery == 0 and intraday > 0):
        if intraday == 0:
            raise _not_held(INTRADAY, intraday, delivery)
        return INTRADAY, intraday
    if named is not None:
        if delivery == 0:
            raise _not_held(named, intraday, delivery)
        return named, delivery
    if intraday == 0:
        return None, delivery
    raise InvalidOrder(
        f"the position is {shown(intraday)} intraday (MIS) and {shown(delivery)} delivery: "
        "name the product to close", code="product_required",
        details={"field": "product", "MIS": decimal_str(intraday),
                 "delivery": decimal_str(delivery)})


def _not_held(product: str, intraday: Decimal, delivery: Decimal) -> InvalidOrder:
    return InvalidOrder(f"no part of the position is held as {product}",
                        code="product_not_held",
                        details={"field": "product", "MIS": decimal_str(intraday),
                                 "delivery": decimal_str(delivery)})
