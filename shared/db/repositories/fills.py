"""SQL for the fills ledger (reads; the worker's fill path writes it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import pages

FILL_COLUMNS = (
    "id, order_id, symbol, side, quantity, price, commission, brokerage_charge, mtf_charge,"
    " broker, broker_exec_id, executed_at, created_at"
)


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID, *,
                        order_id: uuid.UUID | None = None, limit: int = 100,
                        after: tuple[datetime, uuid.UUID] | None = None) -> Sequence[RowMapping]:
    """Return this user's fills (of one order if given), newest first."""
    return await pages.newest_first(
        conn, table="fills", columns=FILL_COLUMNS, user_id=user_id,
        filters={"order_id": order_id}, limit=limit, after=after)


async def insert_fill(conn: AsyncConnection, fill: dict[str, Any]) -> bool:
    """Record an execution; False if this broker execution id was already recorded."""
    result = await conn.execute(
        text("INSERT INTO fills (id, order_id, user_id, account_id, broker, broker_exec_id,"
             " symbol, side, quantity, price, commission, brokerage_charge, mtf_charge,"
             " executed_at) VALUES (:id, :order_id, :user_id, :account_id, :broker,"
             " :broker_exec_id, :symbol, :side, :quantity, :price, :commission,"
             " :brokerage_charge, :mtf_charge, :executed_at)"
             " ON CONFLICT (broker, account_id, broker_exec_id) DO NOTHING RETURNING id"),
        fill)
    return result.first() is not None
