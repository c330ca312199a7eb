"""Holdings as brokers mean them: the delivery quantity that has settled, and what was bought
but has not settled yet (`t1_quantity`).

Positions are what the trades leave now; holdings are what the exchange has delivered. A BUY
settles `days` trading days after the day it traded (T+1 at NSE and BSE, and at US exchanges
since 2024): until then its shares count in `t1_quantity`. Pure functions over decimals and the
trading calendar; the end-of-day task reads the trades and writes the holdings.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, TypeVar

from shared.domain.enums import Side
from shared.domain.portfolio import Trade
from shared.domain.positions import Position, apply_fill
from shared.domain.sessions import Calendar
from shared.domain.values import ZERO

DEFAULT_SETTLEMENT_DAYS: Final = 1
MAX_SETTLEMENT_DAYS: Final = 5
_LOOK_BACK: Final = 31  # days searched for a trading day: any run of holidays is shorter

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Holding:
    """Settled and unsettled delivery quantity of one symbol, at the position's average cost."""

    quantity: Decimal
    t1_quantity: Decimal
    avg_price: Decimal


def settlement_days(exchange: str, rules: Mapping[str, int]) -> int:
    """How many trading days after a trade its shares settle at `exchange` (T+1 unless the
    rules say otherwise)."""
    return rules.get(exchange.upper(), DEFAULT_SETTLEMENT_DAYS)


def last_closed_day(calendar: Calendar, exchange: str, now: datetime) -> date | None:
    """The latest trading day whose session at `exchange` has closed by `now`."""
    today = calendar.day_start(exchange, now).date()
    for back in range(_LOOK_BACK):
        session = calendar.session_on(exchange, today - timedelta(days=back))
        if session is not None and session.closes_at <= now:
            return session.day
    return None


def unsettled_since(calendar: Calendar, exchange: str, day: date, days: int) -> date:
    """The first local day whose BUYs are still unsettled at the end of trading day `day`:
    the trading days from it to `day` are the last `days` of them (none when `days` is 0)."""
    if days == 0:
        return day + timedelta(days=1)
    counted, current = 0, day
    for _ in range(_LOOK_BACK * days):
        if calendar.is_trading_day(exchange, current):
            counted += 1
            if counted == days:
                return current
        current -= timedelta(days=1)
    return current


def holding(trades: Iterable[tuple[Trade, bool]]) -> Holding | None:
    """The holding that trades in one symbol leave, in the order they executed, each marked
    whether it is still unsettled; None when nothing is held.

    A SELL takes settled shares first (what a broker delivers from the demat account), so the
    unsettled part is the recent BUYs, at most what is held. A short position holds nothing.
    """
    position, recent = Position.flat(), ZERO
    for trade, unsettled in trades:
        position = apply_fill(position, trade.side, trade.quantity, trade.price)
        if unsettled and trade.side is Side.BUY:
            recent += trade.quantity
    held = max(position.quantity, ZERO)
    if held == 0:
        return None
    t1 = min(held, recent)
    return Holding(quantity=held - t1, t1_quantity=t1, avg_price=position.avg_price)


def holdings(trades: Iterable[tuple[Key, Trade, bool]]) -> dict[Key, Holding]:
    """The holding of every key (an account or portfolio and a symbol) whose trades, given in
    the order they executed, leave one."""
    grouped: dict[Key, list[tuple[Trade, bool]]] = {}
    for key, trade, unsettled in trades:
        grouped.setdefault(key, []).append((trade, unsettled))
    found = {key: holding(items) for key, items in grouped.items()}
    return {key: held for key, held in found.items() if held is not None}
