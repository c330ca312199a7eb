"""Dispatch pauses: a paused broker's new orders are accepted and stored but placed nowhere.

The worker's claims read this table (orders.lock_new for paper orders, the broker placement's
claim, the sweeper's claim_due), so a pause holds every placement that starts after it
commits; cancels, modifies and fills of orders already placed go on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

# What a pause holds back: an order not yet sent, or one certainly not received (re-placed).
HELD = "(status = 'PENDING_NEW' OR placement IS NOT DISTINCT FROM 'not_sent')"
PAUSED_BROKERS = "SELECT broker FROM dispatch_pauses"


async def pause(conn: AsyncConnection, broker: str, *, paused_by: uuid.UUID,
                reason: str | None) -> RowMapping | None:
    """Pause the broker's dispatch; None if it was paused already (nothing changes)."""
    result = await conn.execute(
        text("INSERT INTO dispatch_pauses (broker, paused_by, reason) VALUES (:broker, :by,"
             " :reason) ON CONFLICT (broker) DO NOTHING RETURNING broker, paused_at, paused_by,"
             " reason"), {"broker": broker, "by": paused_by, "reason": reason})
    return result.mappings().first()


async def resume(conn: AsyncConnection, broker: str) -> tuple[RowMapping | None, int]:
    """Lift the broker's pause and make the orders it held due for the sweeper now.

    Returns the pause lifted (None: there was none) and how many orders it released. Their
    dispatch attempts start again from 0: waiting under a pause is no failure.
    """
    lifted = (await conn.execute(
        text("DELETE FROM dispatch_pauses WHERE broker = :broker RETURNING broker, paused_at,"
             " paused_by, reason"), {"broker": broker})).mappings().first()
    if lifted is None:
        return None, 0
    released = await conn.execute(
        text("UPDATE orders SET next_dispatch_at = now(), dispatch_attempts = 0"
             f" WHERE broker = :broker AND next_dispatch_at IS NOT NULL AND {HELD}"),
        {"broker": broker})
    return lifted, released.rowcount


async def is_paused(conn: AsyncConnection, broker: str) -> bool:
    """Whether the broker's dispatch is paused now."""
    found = await conn.execute(text("SELECT 1 FROM dispatch_pauses WHERE broker = :broker"),
                               {"broker": broker})
    return found.first() is not None


async def every_pause(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Every paused broker, by name."""
    result = await conn.execute(text("SELECT broker, paused_at, paused_by, reason"
                                     " FROM dispatch_pauses ORDER BY broker"))
    return result.mappings().all()
