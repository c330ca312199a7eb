"""The paper exchange matches its resting orders against a symbol's newest quote.

A doorbell (`paper.match`, rung by the quote simulator after it commits a tick) names symbols;
each symbol is matched in rounds, one transaction each. A round finds the orders the current
quote reaches through `order_triggers`' indexes, locks them (by id), then the quote, and books
what the pure rules say in price-time priority. The state is all in PostgreSQL: a lost doorbell
only delays matching to the next quote, and a repeated one finds nothing new to do, because a
fill's trade id names the quote it traded on and the quote's size is spent in the same
transaction.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import market, orders, triggers
from shared.domain import events as ev
from shared.domain.enums import OrderClass, Side
from shared.domain.fees import FeeSchedule
from shared.domain.orders import Change
from shared.settings import Settings
from worker.brokers.paper import doorbell
from worker.brokers.paper.matching import Match, plan
from worker.brokers.paper.venue import Venue, quote_of
from worker.handlers import legs
from worker.handlers.closing import close_order
from worker.handlers.fills import Books
from worker.runtime import Runtime

log = logging.getLogger(__name__)
ACTOR = "paper"
# A round takes at most `paper_match_batch` orders per branch of the book query; a quote that
# reaches more (a crash through thousands of limits) takes more rounds, never one huge lock set.
MAX_ROUNDS = 1000


async def match_symbols(runtime: Runtime, symbols: list[str]) -> int:
    """Answer a doorbell: match each symbol's book against its current quote; returns the
    orders changed."""
    wanted = sorted(set(symbols))
    await doorbell.answer(runtime.redis, wanted)
    changed = 0
    for symbol in wanted:
        changed += await match_symbol(runtime, symbol)
    return changed


async def match_symbol(runtime: Runtime, symbol: str) -> int:
    """Match one symbol's book against its current quote, round after round."""
    changed = 0
    for _ in range(MAX_ROUNDS):
        done = await runtime.in_transaction(
            functools.partial(_round, symbol=symbol, settings=runtime.settings))
        await runtime.publish(done.changes)
        changed += len(done.changes)
        if not (done.more and done.changes):
            return changed
    log.warning("matching %s stopped after %d rounds; the next quote goes on", symbol,
                MAX_ROUNDS)
    return changed


@dataclass(frozen=True, slots=True)
class Round:
    """What one round saved, and whether the book may hold more that this quote reaches."""

    changes: list[Change]
    more: bool = False


async def _round(conn: AsyncConnection, *, symbol: str, settings: Settings) -> Round:
    reached = await triggers.lock_reached(conn, symbol, cap=settings.paper_match_batch)
    if not reached.book:
        return Round([])
    row = (await market.lock_quotes(conn, [symbol])).get(symbol)
    paper = Venue.of(settings)
    now = paper.now()
    if row is None or not paper.trading_open(row["exchange"], now):
        return Round([])  # closed: the book waits, untouched, for the open
    # A leg whose family another transaction holds waits for the next round (no lock waits).
    held = await legs.lock_book_families(conn, [order for order, _ in reached.book])
    result = plan([entry for entry in reached.book if entry[0].id not in held], quote_of(row),
                  now, slippage=paper.slippage, fees=paper.fees)
    for order, why in result.refused:
        log.error("order %s on %s could not take quote %s and stays as it is: %s", order.id,
                  symbol, row["seq"], why)
    filling = [order for order, m in result.matches
               if any(isinstance(e, ev.Filled) for e in m.events)]
    books = await Books.lock(conn, [(o.account_id, o.user_id, o.symbol) for o in filling])
    pending = Pending(books)
    taken = {Side.BUY: Decimal(0), Side.SELL: Decimal(0)}
    followed: set[uuid.UUID] = set()  # legs a fill changed: their planned match is stale
    for order, m in result.matches:
        if order.id in followed:
            continue
        change = await apply_match(conn, books, Change(order), m, paper.fees)
        if not change.steps:
            continue
        taken[order.side] += change.after.filled_quantity - order.filled_quantity
        linked = await pending.add(conn, change, now)
        followed |= {c.before.id for c in linked}
    changes = await pending.write(conn)
    await market.take_sizes(conn, {symbol: (taken[Side.SELL], taken[Side.BUY])})
    # Legs opened or changed in this round are matched by the next one, right away.
    return Round(changes, more=reached.capped or bool(followed) or bool(held))


class Pending:
    """A transaction's order changes, written together at its end: the fills on `books`,
    then one save for every order.

    A class order's legs read what its fills and its save wrote (the family's rows, the shares
    just bought), so such an order is written at once, with everything kept before it, and
    then its legs follow it.
    """

    def __init__(self, books: Books, dispatch: orders.Dispatch | None = None) -> None:
        self._books = books
        self._dispatch = dispatch
        self._waiting: list[Change] = []
        self._saved: list[Change] = []

    async def add(self, conn: AsyncConnection, change: Change, now: datetime) -> list[Change]:
        """Keep a change for the write; returns the saved changes of the legs it moved."""
        self._waiting.append(change)
        if change.after.order_class is OrderClass.SIMPLE:
            return []
        await self.write(conn)
        linked = await legs.follow(conn, self._saved[-1], now)
        self._saved += linked
        return linked

    async def write(self, conn: AsyncConnection) -> list[Change]:
        """Write what was kept; returns every change saved so far, in the order added."""
        await self._books.flush(conn)
        self._saved += await orders.save_all(conn, self._waiting, actor=ACTOR,
                                             dispatch=self._dispatch)
        self._waiting = []
        return self._saved


async def apply_match(conn: AsyncConnection, books: Books, change: Change, result: Match,
                      fees: FeeSchedule) -> Change:
    """Apply a match's events to a locked order: fills booked on `books` (paying `fees`), an
    end releasing what it held."""
    for event in result.events:
        if isinstance(event, ev.Filled):
            change = books.book(change, event, fees)
        elif isinstance(event, ev.Canceled):
            change = await close_order(conn, change, event)
        else:
            change = change.then(event)
    return change
