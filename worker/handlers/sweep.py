"""The sweeper: the database re-drives every order whose message was lost or whose work failed."""

from __future__ import annotations

import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker, queue_for
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.orders import Change
from shared.messaging import tasks
from shared.messaging.enqueue import send
from worker.handlers.cancel import cancel_order
from worker.handlers.closing import close_order
from worker.handlers.submit import submit_orders
from worker.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 500
MAX_BACKOFF_SECONDS = 60
# About ten minutes of exponential backoff: past it, a bug or a bad row, not a lost message.
MAX_DISPATCH_ATTEMPTS = 12


async def sweep(runtime: Runtime) -> dict[str, int]:
    """Re-drive due orders: paper ones here, broker ones on their broker's queue."""
    due = await runtime.in_transaction(
        lambda conn: orders.claim_due(conn, BATCH, MAX_BACKOFF_SECONDS))
    paper = [r for r in due if r["broker"] == Broker.PAPER]
    at_brokers = [r for r in due if r["broker"] != Broker.PAPER]
    to_submit = [str(r["id"]) for r in paper if r["status"] == OrderStatus.PENDING_NEW
                 and r["dispatch_attempts"] <= MAX_DISPATCH_ATTEMPTS]
    hopeless = [r["id"] for r in paper if r["dispatch_attempts"] > MAX_DISPATCH_ATTEMPTS]
    to_cancel = [str(r["id"]) for r in paper if r["status"] == OrderStatus.PENDING_CANCEL
                 and r["dispatch_attempts"] <= MAX_DISPATCH_ATTEMPTS]
    if due:
        log.info("sweeper re-drives %d submits and %d cancels, rejects %d; %d broker orders",
                 len(to_submit), len(to_cancel), len(hopeless), len(at_brokers))
    await _to_broker_queues(runtime, at_brokers)
    submitted = await submit_orders(runtime, to_submit) if to_submit else 0
    for order_id in to_cancel:
        await cancel_order(runtime, order_id)
    for order_id in hopeless:
        await runtime.publish(await runtime.in_transaction(
            functools.partial(_give_up, order_id=order_id)))
    return {"due": len(due), "submitted": submitted, "canceled": len(to_cancel),
            "rejected": len(hopeless), "at_brokers": len(at_brokers)}


async def _to_broker_queues(runtime: Runtime, due: Sequence[RowMapping]) -> None:
    # Broker orders never give up here: while their broker is down they wait (its circuit
    # breaker sets their pace); they go back to their own broker's queue, one message per kind.
    places: dict[str, list[str]] = defaultdict(list)
    syncs: dict[str, list[str]] = defaultdict(list)
    for row in due:
        queue = queue_for(Broker(row["broker"]))
        if row["status"] == OrderStatus.PENDING_CANCEL:
            await send(runtime.redis, tasks.BROKER_CANCEL, [str(row["id"])], queue)
        elif row["status"] == OrderStatus.PENDING_REPLACE:
            await send(runtime.redis, tasks.BROKER_MODIFY, [str(row["id"])], queue)
        elif row["status"] == OrderStatus.PENDING_NEW:
            places[queue].append(str(row["id"]))
        else:
            syncs[queue].append(str(row["id"]))
    for queue, ids in places.items():
        await send(runtime.redis, tasks.BROKER_PLACE, [ids], queue)
    for queue, ids in syncs.items():
        await send(runtime.redis, tasks.BROKER_SYNC, [ids], queue)


async def _give_up(conn: AsyncConnection, *, order_id: uuid.UUID) -> list[Change]:
    order = await orders.lock(conn, order_id)
    if order is None or order.status not in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL):
        return []
    log.error("order %s could not be processed after %d attempts", order_id,
              MAX_DISPATCH_ATTEMPTS)
    if order.status is OrderStatus.PENDING_NEW:
        change = await close_order(conn, Change(order), ev.Rejected(
            "the order could not be processed; nothing was executed"))
    else:
        # A cancel we could not complete leaves the order as it was; the user may retry it.
        change = Change(order).then(ev.CancelRejected(
            "the cancel could not be completed; the order is still working"))
    return [await orders.save(conn, change, dispatch=orders.Dispatch.done(), actor="sweeper")]
