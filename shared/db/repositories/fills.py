"""SQL for the fills ledger (reads; the worker's fill path writes it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
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


# One statement for every fill of a transaction; the unique key drops an execution the
# account's ledger already has.
_INSERT = text(
    "INSERT INTO fills (id, order_id, user_id, account_id, broker, broker_exec_id, symbol, side,"
    " quantity, price, commission, brokerage_charge, mtf_charge, executed_at)"
    " SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:order_id AS uuid[]),"
    " CAST(:user_id AS uuid[]), CAST(:account_id AS uuid[]), CAST(:broker AS text[]),"
    " CAST(:broker_exec_id AS text[]), CAST(:symbol AS text[]), CAST(:side AS text[]),"
    " CAST(:quantity AS numeric[]), CAST(:price AS numeric[]), CAST(:commission AS numeric[]),"
    " CAST(:brokerage_charge AS numeric[]), CAST(:mtf_charge AS numeric[]),"
    " CAST(:executed_at AS timestamptz[]))"
    " ON CONFLICT (broker, account_id, broker_exec_id) DO NOTHING"
    " RETURNING broker_exec_id")
FILL_FIELDS = ("id", "order_id", "user_id", "account_id", "broker", "broker_exec_id", "symbol",
               "side", "quantity", "price", "commission", "brokerage_charge", "mtf_charge",
               "executed_at")


async def insert_fills(conn: AsyncConnection, new: Sequence[Mapping[str, Any]]) -> set[str]:
    """Record executions (each a mapping of FILL_FIELDS); returns the execution ids recorded,
    leaving out those the account's ledger already had."""
    if not new:
        return set()
    result = await conn.execute(_INSERT, {name: [fill[name] for fill in new]
                                          for name in FILL_FIELDS})
    return set(result.scalars())
