"""Reads of the order event log (the audit trail); every read starts from the owning user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

# The order is joined first, so a foreign or absent order gives no row at all, and an order
# whose events are all on earlier pages gives one row without an event.
_TRAIL = text(
    "SELECT e.version, e.from_status, e.to_status, e.detail, e.actor, e.created_at"
    " FROM orders o LEFT JOIN order_events e"
    "   ON e.order_id = o.id AND e.user_id = o.user_id AND e.version > :after"
    " WHERE o.id = :order_id AND o.user_id = :user_id"
    " ORDER BY e.version LIMIT :limit")


async def trail_for_user(conn: AsyncConnection, user_id: uuid.UUID, order_id: uuid.UUID, *,
                         after_version: int, limit: int) -> Sequence[RowMapping] | None:
    """This user's order's events after `after_version`, oldest first; None if not theirs."""
    result = await conn.execute(_TRAIL, {"user_id": user_id, "order_id": order_id,
                                         "after": after_version, "limit": limit})
    rows = result.mappings().all()
    if not rows:
        return None
    return [row for row in rows if row["version"] is not None]
