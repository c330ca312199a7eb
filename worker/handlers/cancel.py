"""Cancel a working order at the paper exchange."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.enums import OrderStatus
from shared.domain.orders import Change
from worker.handlers.closing import close_order
from worker.handlers.legs import end_siblings
from worker.runtime import Runtime


async def cancel_order(runtime: Runtime, order_id: str) -> bool:
    """Complete a requested cancel; False if the order is no longer PENDING_CANCEL."""
    changes = await runtime.in_transaction(lambda conn: _cancel(conn, uuid.UUID(order_id)))
    if not changes:
        return False
    await runtime.publish(changes)
    return True


async def _cancel(conn: AsyncConnection, order_id: uuid.UUID) -> list[Change]:
    order = await orders.lock(conn, order_id)
    if order is None or order.status is not OrderStatus.PENDING_CANCEL:
        return []
    # The paper exchange always honours a cancel of a resting order; a real broker may answer
    # "too late" with a fill instead, which arrives through the fill path.
    closed = await close_order(conn, Change(order), ev.Canceled())
    saved = await orders.save(conn, closed, dispatch=orders.Dispatch.done(), actor="paper")
    return [saved, *await end_siblings(conn, saved.after, "its OCO sibling was canceled")]
