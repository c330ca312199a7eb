"""Submit accepted orders to the paper exchange: one transaction per batch, a batch being a
delivered message's orders and those of the submits queued right behind it (shared.messaging.
drain), up to WORKER_BATCH_ORDERS.

An arriving order trades on the current quote like any venue: it takes the size at the touch
(a MARKET order what there is, the rest resting for the next quotes; IOC what it can, the rest
canceled; FOK all or nothing), and the quote's size is spent in the same transaction.
A batch shares one commit (one WAL flush instead of one per order). Locks are taken in one
global order, orders (by id) → quotes (by symbol) → positions → accounts (sorted), the same as
matching takes them, so two batches never deadlock.
If a batch fails, its orders are retried one at a time so that one bad order cannot hold up
the others; what still fails is left to the sweeper.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import market, orders
from shared.domain import events as ev
from shared.domain.enums import Side
from shared.domain.orders import Change
from shared.domain.sessions import waiting_for_open
from shared.messaging import drain, tasks
from shared.settings import Settings
from worker import telemetry
from worker.brokers.paper.matching import IMMEDIATE, match, paper_order_id
from worker.brokers.paper.venue import Venue, quote_of
from worker.handlers import legs
from worker.handlers.closing import close_order
from worker.handlers.fills import Books
from worker.handlers.matching import Pending, apply_match
from worker.runtime import Runtime

log = logging.getLogger(__name__)
TAKE_TIMEOUT_SECONDS = 1.0


async def submit_queued(runtime: Runtime, order_ids: list[str]) -> int:
    """Submit a message's orders and, in the same batch, the submits queued right behind it."""
    try:
        async with asyncio.timeout(TAKE_TIMEOUT_SECONDS):
            taken = await drain.take_submits(runtime.redis, tasks.ORDERS_QUEUE,
                                             runtime.settings.worker_batch_orders - len(order_ids))
    except Exception as exc:  # noqa: BLE001 - Redis down or slow: this message's orders still go
        log.warning("could not take the submits queued behind this one: %s", exc)
        taken = []
    telemetry.submits_taken(tasks.ORDERS_QUEUE, taken)
    return await submit_orders(
        runtime, [*order_ids, *(order_id for message in taken for order_id in message.order_ids)])


async def submit_orders(runtime: Runtime, order_ids: list[str]) -> int:
    """Submit each order once; returns how many this delivery actually moved."""
    try:
        changes = await runtime.in_transaction(
            functools.partial(_submit, order_ids=order_ids, settings=runtime.settings))
    except Exception:
        if len(order_ids) == 1:
            raise
        log.exception("a batch of %d orders failed; retrying them one by one", len(order_ids))
        changes = await _one_by_one(runtime, order_ids)
    await runtime.publish(changes)
    await legs.ring(runtime.redis, changes)
    return len(changes)


async def _one_by_one(runtime: Runtime, order_ids: list[str]) -> list[Change]:
    changes: list[Change] = []
    for order_id in order_ids:
        try:
            changes += await runtime.in_transaction(
                functools.partial(_submit, order_ids=[order_id], settings=runtime.settings))
        except Exception:
            log.exception("order %s failed; the sweeper will retry it", order_id)
    return changes


async def _submit(conn: AsyncConnection, *, order_ids: list[str],
                  settings: Settings) -> list[Change]:
    locked = await orders.lock_new(conn, [uuid.UUID(order_id) for order_id in order_ids])
    if not locked:
        return []  # a redelivery: another delivery moved them
    quotes = await market.lock_quotes(conn, [o.symbol for o in locked])
    books = await Books.lock(conn, [(o.account_id, o.user_id, o.symbol) for o in locked])
    book = _Book(quotes, Venue.of(settings), books)
    pending = Pending(books, dispatch=orders.Dispatch.done())
    # Locked in id order, executed in the order they arrived: time priority at the touch.
    for order in sorted(locked, key=lambda o: (o.created_at, o.id)):
        submitted = Change(order).then(ev.Submitted(paper_order_id(order.id)))
        await pending.add(conn, await _execute(conn, submitted, book), book.now)
    saved = await pending.write(conn)
    await book.spend(conn)
    return saved


def _waiting(paper: Venue, exchange: str, now: datetime) -> str:
    if not paper.calendar.knows(exchange):
        return f"the paper exchange has no trading hours for {exchange}"
    return waiting_for_open(exchange, paper.calendar.next_open(exchange, now))


class _Book:
    """The batch's locked quotes and the size its orders have taken at each touch so far."""

    def __init__(self, rows: Mapping[str, RowMapping], paper: Venue, books: Books) -> None:
        self.rows = rows
        self.paper = paper
        self.books = books
        self.now = paper.now()
        self.taken: dict[tuple[str, Side], Decimal] = defaultdict(Decimal)

    def available(self, symbol: str, side: Side) -> Decimal:
        quote = quote_of(self.rows[symbol])
        return quote.size(side) - self.taken[symbol, side]

    async def spend(self, conn: AsyncConnection) -> None:
        await market.take_sizes(conn, {symbol: (self.taken[symbol, Side.SELL],
                                                self.taken[symbol, Side.BUY])
                                       for symbol in self.rows})


async def _execute(conn: AsyncConnection, change: Change, book: _Book) -> Change:
    order = change.after
    row = book.rows.get(order.symbol)
    if row is None:
        return await close_order(conn, change, ev.Rejected(f"no quote for {order.symbol}"))
    if order.expire_at is not None and order.expire_at <= book.now:
        # It reached the venue too late (a worker down over the close): it never works.
        return await close_order(conn, change, ev.Expired(
            f"its time in force ended at {order.expire_at.isoformat()}, before the paper "
            "exchange received it"))
    exchange = row["exchange"]
    if not book.paper.trading_open(exchange, book.now):
        accepted = change.then(ev.Accepted(_waiting(book.paper, exchange, book.now)))
        if order.time_in_force in IMMEDIATE:
            return await close_order(conn, accepted, ev.Canceled(
                f"{order.time_in_force.value} order could not fill at once: the"
                f" {row['exchange']} session is closed"))
        return accepted  # rests until the session opens
    accepted = change.then(ev.Accepted())
    result = match(accepted.after, quote_of(row), book.available(order.symbol, order.side),
                   book.now, arriving=True, slippage=book.paper.slippage,
                   fees=book.paper.fees)
    executed = await apply_match(conn, book.books, accepted, result, book.paper.fees)
    book.taken[order.symbol, order.side] += (executed.after.filled_quantity
                                             - accepted.after.filled_quantity)
    return executed
