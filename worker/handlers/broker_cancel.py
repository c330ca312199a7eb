"""Cancel an order at its broker. A cancel is a request: the broker's report decides.

The order stays PENDING_CANCEL until the broker reports it canceled (or filled: too late). A
broker that refuses the cancel returns it to working, with the broker's reason shown.
"""

from __future__ import annotations

import functools
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import Broker
from shared.brokers.types import BrokerError, Rejected
from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus, Placement
from shared.domain.orders import Change, Order
from worker.handlers import broker_calls as calls
from worker.handlers.broker_orders import resolve_unknown
from worker.handlers.broker_sync import refresh
from worker.handlers.closing import close_order
from worker.runtime import Runtime

# While the broker still reports the cancel pending, look again this soon.
CANCEL_POLL_SECONDS = 2.0
_CANCELABLE = frozenset({OrderStatus.SUBMITTED, OrderStatus.ACCEPTED,
                         OrderStatus.PARTIALLY_FILLED})


async def cancel_at_broker(runtime: Runtime, order_id: str) -> bool:
    """Carry a requested cancel to the broker; False if the order is not PENDING_CANCEL."""
    order = await calls.read_order(runtime, uuid.UUID(order_id))
    if order is None or order.status is not OrderStatus.PENDING_CANCEL:
        return False
    if not order.broker_order_id:
        if order.placement is Placement.IN_FLIGHT:
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
        await adapter.cancel(order.broker_order_id)
    except Rejected as exc:
        await calls.note_outcome(runtime, Broker(order.broker), order, exc)
        await _refused(runtime, order, exc.message)
        return True
    except BrokerError as exc:
        await calls.after_failure(runtime, order, exc)
        return True
    await calls.note_outcome(runtime, Broker(order.broker), order, None)
    await refresh(runtime, order)
    await _poll_later(runtime, order)
    return True


async def _poll_later(runtime: Runtime, order: Order) -> None:
    current = await calls.read_order(runtime, order.id)
    if current is not None and current.status is OrderStatus.PENDING_CANCEL:
        async with runtime.engine.begin() as conn:
            await orders.reschedule(conn, order.id, CANCEL_POLL_SECONDS)


async def _refused(runtime: Runtime, order: Order, reason: str) -> None:
    # "Too late" comes with a fill, which the refresh books; anything else resumes working,
    # in exactly the status the order had before the cancel was asked for.
    await refresh(runtime, order)
    await _in_transaction(runtime, order.id, ev.CancelRejected(
        f"the broker refused the cancel: {reason}"))


async def _finish(runtime: Runtime, order: Order, reason: str) -> None:
    await _in_transaction(runtime, order.id, ev.Canceled(reason))


async def _in_transaction(runtime: Runtime, order_id: uuid.UUID,
                          event: ev.CancelRejected | ev.Canceled) -> None:
    change = await runtime.in_transaction(functools.partial(_settle, order_id=order_id,
                                                            event=event))
    await runtime.publish([change] if change else [])


async def _settle(conn: AsyncConnection, *, order_id: uuid.UUID,
                  event: ev.CancelRejected | ev.Canceled) -> Change | None:
    order = await orders.lock(conn, order_id)
    if order is None or order.status is not OrderStatus.PENDING_CANCEL:
        return None
    if isinstance(event, ev.Canceled):
        change = await close_order(conn, Change(order), event)
    else:
        change = Change(order).then(event)
    return await orders.save(conn, change, dispatch=orders.Dispatch.done(),
                             actor=f"broker:{order.broker}")
