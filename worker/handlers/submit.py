"""Submit accepted orders to the paper exchange: one transaction per delivered batch.

A batch shares one commit (one WAL flush instead of one per order). Locks are taken in one
global order, orders → positions (sorted) → accounts (sorted), so two batches never deadlock.
If a batch fails, its orders are retried one at a time so that one bad order cannot hold up
the others; what still fails is left to the sweeper.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import accounts, market, orders
from shared.domain import events as ev
from shared.domain.orders import Change, Order
from worker.brokers.paper.matching import Action, PaperOrder, Quote, decide
from worker.handlers.closing import close_order
from worker.handlers.fills import book_fill
from worker.runtime import Runtime

log = logging.getLogger(__name__)


async def submit_orders(runtime: Runtime, order_ids: list[str]) -> int:
    """Submit each order once; returns how many this delivery actually moved."""
    try:
        changes = await runtime.in_transaction(functools.partial(_submit, order_ids=order_ids))
    except Exception:
        if len(order_ids) == 1:
            raise
        log.exception("a batch of %d orders failed; retrying them one by one", len(order_ids))
        changes = await _one_by_one(runtime, order_ids)
    await runtime.publish(changes)
    return len(changes)


async def _one_by_one(runtime: Runtime, order_ids: list[str]) -> list[Change]:
    changes: list[Change] = []
    for order_id in order_ids:
        try:
            changes += await runtime.in_transaction(
                functools.partial(_submit, order_ids=[order_id]))
        except Exception:
            log.exception("order %s failed; the sweeper will retry it", order_id)
    return changes


async def _submit(conn: AsyncConnection, *, order_ids: list[str]) -> list[Change]:
    locked = await orders.lock_new(conn, [uuid.UUID(order_id) for order_id in order_ids])
    if not locked:
        return []  # a redelivery: another delivery moved them
    await accounts.lock_books(conn, [(o.account_id, o.user_id, o.symbol) for o in locked])
    quotes = await market.get_quotes(conn, sorted({o.symbol for o in locked}))
    saved: list[Change] = []
    for order in locked:
        submitted = Change(order).then(ev.Submitted(paper_order_id(order.id)))
        executed = await _execute(conn, submitted, quotes.get(order.symbol))
        saved.append(await orders.save(conn, executed, dispatch=orders.Dispatch.done()))
    return saved


def paper_order_id(order_id: uuid.UUID) -> str:
    """The paper exchange's id for our order: derived from it, so a replay names the same."""
    return f"PAPER-{order_id.hex[:16]}"


async def _execute(conn: AsyncConnection, change: Change,
                   quote_row: Mapping[Any, Any] | None) -> Change:
    order = change.after
    if quote_row is None:
        return await close_order(conn, change, ev.Rejected(f"no quote for {order.symbol}"))
    quote = Quote(quote_row["bid"], quote_row["ask"], quote_row["last"])
    decision = decide(_paper_order(order), quote)
    if decision.action is Action.CANCEL:
        return await close_order(conn, change, ev.Canceled(decision.reason))
    accepted = change.then(ev.Accepted())
    if decision.action is not Action.FILL:
        return accepted
    assert decision.price is not None
    return await book_fill(conn, accepted, ev.Filled(
        trade_id=f"{order.id.hex}-1", quantity=order.quantity, price=decision.price,
        at=datetime.now(UTC)))


def _paper_order(order: Order) -> PaperOrder:
    return PaperOrder(side=order.side, order_type=order.order_type,
                      time_in_force=order.time_in_force, price=order.price,
                      stop_price=order.stop_price)
