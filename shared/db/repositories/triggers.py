"""SQL for `order_triggers`: the paper book's price levels and the orders' expiry times."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.domain.orders import Order
from shared.domain.triggers import trigger_of

# A new level loses its time priority (as at a venue when an order is replaced); a moved water
# mark or a new expiry keeps it.
_UPSERT = text("""
INSERT INTO order_triggers (order_id, symbol, side, direction, level, mark, queued_at, expire_at)
VALUES (:order_id, :symbol, :side, :direction, :level, :mark, now(), :expire_at)
ON CONFLICT (order_id) DO UPDATE SET
    direction = EXCLUDED.direction, level = EXCLUDED.level, mark = EXCLUDED.mark,
    expire_at = EXCLUDED.expire_at,
    queued_at = CASE WHEN order_triggers.level IS NOT DISTINCT FROM EXCLUDED.level
                      AND order_triggers.direction IS NOT DISTINCT FROM EXCLUDED.direction
                     THEN order_triggers.queued_at ELSE now() END""")
_DELETE = text("DELETE FROM order_triggers WHERE order_id = :order_id")


async def keep_in_step(conn: AsyncConnection, before: Order, after: Order) -> None:
    """Make the order's trigger row what `after` needs (no statement when nothing changed)."""
    wanted = trigger_of(after)
    if wanted == trigger_of(before):
        return  # the row is what `before` needed: every save keeps it so
    if wanted is None:
        await conn.execute(_DELETE, {"order_id": after.id})
        return
    await conn.execute(_UPSERT, {
        "order_id": after.id, "symbol": after.symbol, "side": after.side.value,
        "direction": wanted.direction.value if wanted.direction else None,
        "level": wanted.level, "mark": wanted.mark, "expire_at": wanted.expire_at})
