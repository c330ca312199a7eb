"""What the portfolio screens add to positions: the day's P&L and the cash of a journaled trade.

Pure functions over decimals; the repositories fetch the rows and the routes shape them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from shared.domain.enums import Side
from shared.domain.positions import cash_delta
from shared.domain.values import ARITHMETIC, ZERO, to_ledger


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
