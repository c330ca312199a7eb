"""What the portfolio screens add to positions: the day's P&L and the cash of a journaled trade.

Pure functions over decimals; the repositories fetch the rows and the routes shape them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, localcontext
from typing import Final, TypeVar
from zoneinfo import ZoneInfo

from shared.domain import names
from shared.domain.enums import Side
from shared.domain.errors import InvalidOrder
from shared.domain.positions import (
    Position,
    apply_fill,
    cash_delta,
    market_value,
    unrealized_pnl,
)
from shared.domain.values import (
    ARITHMETIC,
    MAX_NOTIONAL,
    MAX_PRICE,
    MAX_QUANTITY,
    ZERO,
    check_amount,
    shown,
    to_ledger,
)


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution in one symbol, with every charge it paid."""

    side: Side
    quantity: Decimal
    price: Decimal
    charges: Decimal


def day_start(now: datetime, timezone: str) -> datetime:
    """The midnight that began `now`'s day in `timezone` (an IANA name)."""
    zone = ZoneInfo(timezone)
    return datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)


def day_pnl(trades: Iterable[Trade], mark: Decimal | None) -> Decimal:
    """The P&L of the day's trades in one symbol at `mark`, less their charges.

    A BUY earns what the mark rose above its price, a SELL what its price stood above the
    mark. Without a mark each trade counts at its own price (its charges only). Quantity held
    from earlier days is not counted: that needs the previous close, which ordergate does not
    keep.
    """
    total = ZERO
    with localcontext(ARITHMETIC):
        for trade in trades:
            at = trade.price if mark is None else mark
            signed = trade.quantity if trade.side is Side.BUY else -trade.quantity
            total += (at - trade.price) * signed - trade.charges
        return to_ledger(total)


def trade_cash(trade: Trade) -> Decimal:
    """The cash change of a trade: what it bought or sold for, less its charges."""
    with localcontext(ARITHMETIC):
        return to_ledger(cash_delta(trade.side, trade.quantity, trade.price) - trade.charges)


def replay(trades: Iterable[Trade]) -> Position:
    """The position that `trades`, in the order they executed, leave from flat."""
    position = Position.flat()
    for trade in trades:
        position = apply_fill(position, trade.side, trade.quantity, trade.price)
    return position


Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Book:
    """What one symbol's trades in one account leave: the position and every charge paid."""

    position: Position
    charges: Decimal


def books(trades: Iterable[tuple[Key, Trade]]) -> dict[Key, Book]:
    """The position and charges each key (an account and symbol) is left with by its trades,
    given in the order they executed; the keys in the order they first appear."""
    found: dict[Key, Book] = {}
    for key, trade in trades:
        book = found.get(key, Book(Position.flat(), ZERO))
        found[key] = Book(apply_fill(book.position, trade.side, trade.quantity, trade.price),
                          book.charges + trade.charges)
    return found


def realized_steps(trades: Sequence[Trade]) -> list[Decimal]:
    """The P&L each trade of one symbol realized, in the order they executed (before charges)."""
    steps: list[Decimal] = []
    position = Position.flat()
    for trade in trades:
        after = apply_fill(position, trade.side, trade.quantity, trade.price)
        steps.append(after.realized_pnl - position.realized_pnl)
        position = after
    return steps


@dataclass(frozen=True, slots=True)
class Realized:
    """What one symbol's trades inside a period realized, and what they paid."""

    trades: int
    realized_pnl: Decimal
    charges: Decimal

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.charges


def realized_inside(trades: Sequence[Trade], inside: Sequence[bool]) -> Realized:
    """Realized P&L and charges of the trades marked `inside` a period, their cost basis built
    from every trade before them (`trades` in the order they executed, from the first)."""
    steps = realized_steps(trades)
    chosen = [(trade, step) for trade, step, keep in zip(trades, steps, inside, strict=True)
              if keep]
    return Realized(trades=len(chosen), realized_pnl=sum((s for _, s in chosen), ZERO),
                    charges=sum((t.charges for t, _ in chosen), ZERO))


def check_trade(quantity: Decimal, price: Decimal, charges: Mapping[str, Decimal],
                executed_at: datetime, now: datetime) -> None:
    """Refuse a journaled trade no one could have done: 422 `invalid_trade` naming the field."""
    for name, value, most in (("quantity", quantity, MAX_QUANTITY), ("price", price, MAX_PRICE)):
        if value <= 0:
            raise InvalidOrder(f"{name} must be positive, was {value}", code="invalid_trade",
                               details={"field": name})
        try:
            check_amount(value, field=name, maximum=most)
        except ValueError as error:
            raise InvalidOrder(str(error), code="invalid_trade", details={"field": name}) from None
    # The bound of an order's worth: what the account's cash columns hold, summed, has room.
    with localcontext(ARITHMETIC):
        worth = quantity * price
    if worth > MAX_NOTIONAL:
        raise InvalidOrder(f"quantity × price must be at most {MAX_NOTIONAL}, was {shown(worth)}",
                           code="invalid_trade", details={"field": "quantity"})
    for name, value in charges.items():
        if value < 0:
            raise InvalidOrder(f"{name} must not be negative, was {value}",
                               code="invalid_trade", details={"field": name})
    if executed_at > now:
        raise InvalidOrder(f"executed_at {executed_at.isoformat()} is in the future",
                           code="invalid_trade", details={"field": "executed_at"})


MAX_PORTFOLIOS_PER_USER: Final = 50


def portfolio_name(raw: str) -> str:
    """Return a portfolio name as it is shown (shared.domain.names.display_name)."""
    return names.display_name(raw, "portfolio")


def portfolio_key(name: str) -> str:
    """The key under which a user's portfolio names are unique, whatever their case."""
    return names.name_key(name, "portfolio")


@dataclass(frozen=True, slots=True)
class Valuation:
    """Positions at their marks (an unmarked one at cost), summed in one currency."""

    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


def valuation(positions: Iterable[tuple[Position, Decimal | None]]) -> Valuation:
    """Sum positions, each with its mark (None: at its average cost)."""
    value = realized = unrealized = ZERO
    for position, mark in positions:
        at = position.avg_price if mark is None else mark
        value += market_value(position, at)
        realized += position.realized_pnl
        unrealized += unrealized_pnl(position, at)
    return Valuation(value, realized, unrealized)
