"""Ending an order without a (further) fill: cancel, reject, expire."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import orders
from shared.domain import events as ev
from shared.domain.orders import Change


async def close_order(conn: AsyncConnection, change: Change,
                      event: ev.Rejected | ev.Canceled | ev.Expired) -> Change:
    """End a locked order and give back what it still reserves of cash or shares."""
    closed = change.then(event)
    await orders.release_reservation(conn, change.after, closed.after)
    return closed
