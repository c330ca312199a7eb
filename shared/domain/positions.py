"""Positions and P&L by the average-cost method, as a fold over fills.

`reduce(lambda p, f: apply_fill(p, f.side, f.qty, f.price), fills, Position.flat())`

Average prices and realized P&L are rounded to the 8-place ledger scale (half to even) after each
fill, so a position rebuilt from its fills equals the stored one digit for digit.
"""

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Self

from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder
from shared.domain.values import ARITHMETIC, ZERO, require_decimal, to_ledger


@dataclass(frozen=True, slots=True)
class Position:
    """A net position: signed quantity (> 0 long, < 0 short), average cost, realized P&L."""

    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal

    def __post_init__(self) -> None:
        require_decimal(self.quantity, field="quantity")
        require_decimal(self.avg_price, field="avg_price")
        require_decimal(self.realized_pnl, field="realized_pnl")
        if self.avg_price < 0:
            raise ValueError(f"avg_price must not be negative, was {self.avg_price}")

    @classmethod
    def flat(cls) -> Self:
        """Return an empty position with no realized P&L."""
        return cls(quantity=ZERO, avg_price=ZERO, realized_pnl=ZERO)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def is_long(self) -> bool:
        return self.quantity > 0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0


def _check_fill(qty: Decimal, price: Decimal) -> None:
    require_decimal(qty, field="quantity")
    require_decimal(price, field="price")
    if qty <= 0:
        raise InvalidOrder(
            f"fill quantity must be positive, was {qty}", details={"field": "quantity"}
        )
    if price <= 0:
        raise InvalidOrder(f"fill price must be positive, was {price}", details={"field": "price"})


def apply_fill(pos: Position, side: Side, qty: Decimal, price: Decimal) -> Position:
    """Return the position after a fill: add re-averages, reduce realizes, a flip reopens."""
    _check_fill(qty, price)
    with localcontext(ARITHMETIC):
        signed = qty if side is Side.BUY else -qty
        held = pos.quantity
        after = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            # Opening or adding: the new cost is averaged in.
            average = to_ledger((abs(held) * pos.avg_price + qty * price) / abs(after))
            return Position(quantity=after, avg_price=average, realized_pnl=pos.realized_pnl)
        closed = min(qty, abs(held))
        per_unit = price - pos.avg_price if held > 0 else pos.avg_price - price
        realized = to_ledger(pos.realized_pnl + per_unit * closed)
        if after == 0:
            average = ZERO
        elif (after > 0) == (held > 0):
            average = pos.avg_price
        else:
            # Flipped through zero: the remainder opens a new position at the fill price.
            average = to_ledger(price)
        return Position(quantity=after, avg_price=average, realized_pnl=realized)


def unrealized_pnl(pos: Position, mark: Decimal) -> Decimal:
    """Return the P&L of the open quantity if it were closed at `mark`."""
    require_decimal(mark, field="mark")
    with localcontext(ARITHMETIC):
        return to_ledger((mark - pos.avg_price) * pos.quantity)


def market_value(pos: Position, mark: Decimal) -> Decimal:
    """Return the signed value of the position at `mark` (negative for a short)."""
    require_decimal(mark, field="mark")
    with localcontext(ARITHMETIC):
        return to_ledger(pos.quantity * mark)


def cash_delta(side: Side, qty: Decimal, price: Decimal) -> Decimal:
    """Return the cash change of a fill: negative for a BUY, positive for a SELL (no fees)."""
    _check_fill(qty, price)
    with localcontext(ARITHMETIC):
        amount = to_ledger(qty * price)
    return -amount if side is Side.BUY else amount
