"""SQL of the dashboard: each table read once, every statement starting from the owning user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

LAST_FILLS = 5


async def accounts_of(conn: AsyncConnection, user_id: uuid.UUID) -> Sequence[RowMapping]:
    """The user's accounts, oldest first, each with the user's time zone (UTC by default)."""
    result = await conn.execute(
        text("SELECT a.id, a.broker, a.currency, a.cash, a.reserved_cash,"
             " coalesce(s.timezone, 'UTC') AS timezone"
             " FROM accounts a LEFT JOIN user_settings s ON s.user_id = a.user_id"
             " WHERE a.user_id = :user_id ORDER BY a.created_at, a.id"),
        {"user_id": user_id})
    return result.mappings().all()


async def open_orders(conn: AsyncConnection, user_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """How many of the user's orders are not final yet, per account (read from
    ix_orders_user_open, which holds the open orders only)."""
    result = await conn.execute(
        text("SELECT account_id, count(*) AS n FROM orders"
             " WHERE user_id = :user_id AND is_open GROUP BY account_id"),
        {"user_id": user_id})
    return {row.account_id: int(row.n) for row in result}


async def fills_of(conn: AsyncConnection, user_id: uuid.UUID, account_ids: Sequence[uuid.UUID],
                   since: datetime) -> Sequence[RowMapping]:
    """In one statement: each account's last fills (`kind` 'last', newest first) and every
    fill and journaled trade (no order_id) of the user executed since `since` (`kind` 'day')."""
    columns = ("id, order_id, account_id, symbol, side, quantity, price,"
               " commission AS charges, executed_at, created_at")
    result = await conn.execute(
        text(f"SELECT 'last' AS kind, f.* FROM unnest(CAST(:accounts AS uuid[])) AS a(id)"
             f" CROSS JOIN LATERAL (SELECT {columns} FROM fills"
             f"  WHERE user_id = :user_id AND account_id = a.id"
             f"  ORDER BY created_at DESC, id DESC LIMIT {LAST_FILLS}) f"
             f" UNION ALL"
             # Booked no earlier than executed: created_at lets the index find them.
             f" SELECT 'day', {columns} FROM fills WHERE user_id = :user_id"
             f" AND created_at >= :since AND executed_at >= :since"
             f" UNION ALL"
             f" SELECT 'day', id, NULL, account_id, symbol, side, quantity, price,"
             f"  brokerage_charge + mtf_charge, executed_at, created_at FROM trades"
             f"  WHERE user_id = :user_id AND executed_at >= :since"
             f" ORDER BY kind, created_at DESC, id DESC"),
        {"user_id": user_id, "accounts": list(account_ids), "since": since})
    return result.mappings().all()
