"""Ending an order without a (further) fill: cancel, reject, expire."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import orders
from shared.domain.enums import OrderStatus
from shared.domain.orders import transition
from worker.runtime import Change


async def close_order(conn: AsyncConnection, row: RowMapping, status: OrderStatus,
                      reason: str | None) -> Change:
    """Move a locked order to a terminal status and release what it still reserves."""
    await orders.release_reservation(conn, row)
    closed = await orders.set_status(
        conn, row, transition(OrderStatus(row["status"]), status), reject_reason=reason,
        reserved_cash=Decimal(0), reserved_quantity=Decimal(0), next_dispatch_at=None)
    return closed, row["status"]
