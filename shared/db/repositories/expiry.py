"""SQL of the expiry task: the orders whose time in force ran out, and the books they hold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.orders import ORDER_COLUMNS, to_order
from shared.domain.orders import Order

_O_COLUMNS = ", ".join(f"o.{name.strip()}" for name in ORDER_COLUMNS.split(","))
# Only the orders are locked, with SKIP LOCKED: two expiry runs never take the same order, and
# an order a fill or a cancel holds is left for the next run instead of waited for (the lock
# order is orders first; its trigger row is written by the save, under the order's lock).
_DUE = text(f"""
SELECT {_O_COLUMNS} FROM order_triggers t JOIN orders o ON o.id = t.order_id
WHERE t.expire_at <= :now
ORDER BY t.expire_at LIMIT :limit
FOR UPDATE OF o SKIP LOCKED""")


async def lock_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Order]:
    """Lock up to `limit` orders whose expiry time is at or before `now`, soonest first."""
    result = await conn.execute(_DUE, {"now": now, "limit": limit})
    return [to_order(row) for row in result.mappings()]


async def lock_reserved(conn: AsyncConnection, held: Sequence[Order]) -> None:
    """Lock what these locked orders reserve, in the global order: positions (SELLs' shares),
    then accounts (BUYs' cash), each sorted, as a fill takes them."""
    sells = sorted({(o.account_id, o.symbol) for o in held if o.reserved_quantity > 0})
    if sells:
        await conn.execute(
            text("SELECT 1 FROM positions WHERE (account_id, symbol) IN"
                 " (SELECT * FROM unnest(CAST(:accounts AS uuid[]), CAST(:symbols AS text[])))"
                 " ORDER BY account_id, symbol FOR UPDATE"),
            {"accounts": [a for a, _ in sells], "symbols": [s for _, s in sells]})
    buyers = sorted({o.account_id for o in held if o.reserved_cash > 0})
    if buyers:
        await conn.execute(
            text("SELECT 1 FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
            {"ids": buyers})
