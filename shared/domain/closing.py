"""Closing a position: the side and quantity of the order that squares it off (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext

from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder, NotFound
from shared.domain.values import ARITHMETIC, require_decimal, shown


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
