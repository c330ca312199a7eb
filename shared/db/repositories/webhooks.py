"""SQL for stored webhook deliveries: stored once per delivery id, then processed."""

from __future__ import annotations

import uuid

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection


async def store(conn: AsyncConnection, *, broker: str, delivery_id: str,
                account_id: uuid.UUID | None, broker_order_id: str | None,
                body: str) -> uuid.UUID | None:
    """Store a verified delivery; None when this delivery id was stored before (a replay)."""
    result = await conn.execute(
        text("INSERT INTO webhook_events (id, broker, delivery_id, account_id, broker_order_id,"
             " body) VALUES (:id, :broker, :delivery_id, :account_id, :broker_order_id, :body)"
             " ON CONFLICT (broker, delivery_id) DO NOTHING RETURNING id"),
        {"id": uuid.uuid4(), "broker": broker, "delivery_id": delivery_id,
         "account_id": account_id, "broker_order_id": broker_order_id, "body": body})
    stored: uuid.UUID | None = result.scalar()
    return stored


async def get(conn: AsyncConnection, event_id: uuid.UUID) -> RowMapping | None:
    """One stored delivery."""
    result = await conn.execute(
        text("SELECT id, broker, account_id, broker_order_id, body, status FROM webhook_events"
             " WHERE id = :id"), {"id": event_id})
    return result.mappings().first()


async def finish(conn: AsyncConnection, event_id: uuid.UUID, status: str,
                 error: str | None = None) -> None:
    """Mark a delivery processed, ignored (no such order) or failed."""
    await conn.execute(
        text("UPDATE webhook_events SET status = :status, error = :error, processed_at = now()"
             " WHERE id = :id"), {"id": event_id, "status": status, "error": error})


async def queued(conn: AsyncConnection, limit: int) -> list[tuple[uuid.UUID, str]]:
    """Deliveries stored but not processed for a minute: their message was lost."""
    result = await conn.execute(
        text("SELECT id, broker FROM webhook_events WHERE status = 'queued'"
             " AND received_at < now() - interval '1 minute' ORDER BY received_at LIMIT :limit"),
        {"limit": limit})
    return [(row.id, row.broker) for row in result]
