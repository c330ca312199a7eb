"""Expire orders whose time in force ran out: DAY at its session's close, GTD at `expire_at`.

Celery beat runs this every EXPIRY_INTERVAL_SECONDS. The due orders come from `order_triggers`
(kept in step by every save, for open paper orders) through its expiry index, locked with SKIP
LOCKED so several workers never expire one order twice; each ends through the domain
(`Expired`), releasing what it reserved, in one transaction per batch. Orders at real brokers
are never here: the broker expires its own DAY and GTD orders.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import clock_from
from shared.db.repositories import expiry, orders
from shared.domain import events as ev
from shared.domain.enums import TimeInForce
from shared.domain.orders import Change, Order, allows
from worker.handlers.closing import close_order
from worker.handlers.legs import end_siblings
from worker.runtime import Runtime

log = logging.getLogger(__name__)
ACTOR = "expiry"
# Batches per run at most: a backlog is worked off over a few runs, never in one long task.
MAX_BATCHES = 20


async def expire_due(runtime: Runtime, now: datetime | None = None) -> int:
    """Expire every order due at `now` (default: the clock's now); returns how many."""
    at = now or clock_from(runtime.settings).now()
    limit = runtime.settings.expiry_batch_size
    expired = 0
    for _ in range(MAX_BATCHES):
        taken, changes = await runtime.in_transaction(
            functools.partial(_expire_batch, now=at, limit=limit))
        await runtime.publish(changes)
        expired += len(changes)
        if taken < limit:
            break
    if expired:
        log.info("expired %d orders due by %s", expired, at.isoformat())
    return expired


async def _expire_batch(conn: AsyncConnection, *, now: datetime,
                        limit: int) -> tuple[int, list[Change]]:
    due = await expiry.lock_due(conn, now, limit)
    ending = [order for order in due if _is_due(order, now)]
    await expiry.lock_reserved(conn, ending)
    changes: list[Change] = []
    for order in ending:
        if any(c.before.id == order.id for c in changes):
            continue  # a leg its expired sibling already ended
        closed = await close_order(conn, Change(order), ev.Expired(_reason(order)))
        saved = await orders.save(conn, closed, dispatch=orders.Dispatch.done(), actor=ACTOR)
        changes += [saved, *await end_siblings(conn, saved.after, "its OCO sibling expired")]
    return len(due), changes


def _is_due(order: Order, now: datetime) -> bool:
    # The locked row is the newest: a replace may have moved its expiry since the scan.
    return (order.expire_at is not None and order.expire_at <= now
            and allows(order.status, ev.Expired()))


def _reason(order: Order) -> str:
    assert order.expire_at is not None
    when = order.expire_at.isoformat()
    if order.time_in_force is TimeInForce.GTD:
        return f"GTD order expired at its expire_at, {when}"
    return f"DAY order expired at the close of its session, {when}"
