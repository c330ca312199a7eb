"""Cancel an order at its broker. A cancel is a request: the broker's report decides.

The order stays PENDING_CANCEL until the broker reports it canceled (or filled: too late). A
broker that refuses the cancel returns it to working, with the broker's reason shown.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerError, Rejected
from shared.db.repositories import orders
from shared.domain.enums import OrderStatus
from shared.domain.orders import transition
from worker.handlers import broker_calls as calls
from worker.handlers.broker_orders import resolve_unknown
from worker.handlers.broker_sync import refresh
from worker.handlers.closing import close_order
from worker.runtime import Change, Runtime

# While the broker still reports the cancel pending, look again this soon.
CANCEL_POLL_SECONDS = 2.0
_CANCELABLE = frozenset({OrderStatus.SUBMITTED, OrderStatus.ACCEPTED,
                         OrderStatus.PARTIALLY_FILLED})


async def cancel_at_broker(runtime: Runtime, order_id: str) -> bool:
    """Carry a requested cancel to the broker; False if the order is not PENDING_CANCEL."""
    order = await calls.read_order(runtime, uuid.UUID(order_id))
    if order is None or order["status"] != OrderStatus.PENDING_CANCEL:
        return False
    if not order["broker_order_id"]:
        if order["placement"] == "in_flight":
            await resolve_unknown(runtime, order)  # find it first; the sweeper comes back
        else:
            await _finish(runtime, order, "canceled before it reached the broker")
        return True
    report = await refresh(runtime, order)
    if report is None or report.status not in _CANCELABLE:
        await _poll_later(runtime, order)  # pending at the broker already, or just ended
        return True
    try:
        adapter = await calls.adapter_for(runtime, order)
        await adapter.cancel(order["broker_order_id"])
    except Rejected as exc:
        await calls.note_outcome(runtime, Broker(order["broker"]), order, exc)
        await _refused(runtime, order, exc.message)
        return True
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return True
    await calls.note_outcome(runtime, Broker(order["broker"]), order, None)
    await refresh(runtime, order)
    await _poll_later(runtime, order)
    return True


async def _poll_later(runtime: Runtime, order: Mapping[Any, Any]) -> None:
    current = await calls.read_order(runtime, order["id"])
    if current is not None and current["status"] == OrderStatus.PENDING_CANCEL:
        async with runtime.engine.begin() as conn:
            await orders.reschedule(conn, order["id"], CANCEL_POLL_SECONDS)


async def _refused(runtime: Runtime, order: Mapping[Any, Any], reason: str) -> None:
    # "Too late" comes with a fill, which the refresh books; anything else resumes working.
    await refresh(runtime, order)
    changes = await runtime.in_transaction(functools.partial(
        _resume, order_id=order["id"], reason=reason))
    await runtime.publish(changes)


async def _resume(conn: AsyncConnection, *, order_id: uuid.UUID, reason: str) -> list[Change]:
    row = await orders.lock(conn, order_id)
    if row is None or row["status"] != OrderStatus.PENDING_CANCEL:
        return []
    working = await orders.set_status(
        conn, row, transition(OrderStatus.PENDING_CANCEL, OrderStatus.ACCEPTED),
        status_detail=f"the broker refused the cancel: {reason}", next_dispatch_at=None)
    changes: list[Change] = [(working, row["status"])]
    await orders.log_events(conn, changes)
    return changes


async def _finish(runtime: Runtime, order: Mapping[Any, Any], reason: str) -> None:
    async def work(conn: AsyncConnection) -> list[Change]:
        row = await orders.lock(conn, order["id"])
        if row is None or row["status"] != OrderStatus.PENDING_CANCEL:
            return []
        changes = [await close_order(conn, row, OrderStatus.CANCELED, reason)]
        await orders.log_events(conn, changes)
        return changes

    await runtime.publish(await runtime.in_transaction(work))
