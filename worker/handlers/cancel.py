"""Cancel a working order at the paper exchange."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import orders
from shared.domain.enums import OrderStatus
from worker.handlers.closing import close_order
from worker.runtime import Change, Runtime


async def cancel_order(runtime: Runtime, order_id: str) -> bool:
    """Complete a requested cancel; False if the order is no longer PENDING_CANCEL."""
    changes = await runtime.in_transaction(lambda conn: _cancel(conn, uuid.UUID(order_id)))
    await runtime.publish(changes)
    return bool(changes)


async def _cancel(conn: AsyncConnection, order_id: uuid.UUID) -> list[Change]:
    row = await orders.lock(conn, order_id)
    if row is None or row["status"] != OrderStatus.PENDING_CANCEL:
        return []
    # The paper exchange always honours a cancel of a resting order; a real broker may answer
    # "too late" with a fill instead, which arrives through the fill path.
    changes = [await close_order(conn, row, OrderStatus.CANCELED, None)]
    await orders.log_events(conn, changes)
    return changes
