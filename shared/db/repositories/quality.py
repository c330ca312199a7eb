"""SQL for quality checks: discrepancies between a broker and our books, for a person to see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import bindparam


async def record(conn: AsyncConnection, *, broker: str, kind: str, message: str,
                 user_id: uuid.UUID | None = None, account_id: uuid.UUID | None = None,
                 order_id: uuid.UUID | None = None,
                 details: dict[str, Any] | None = None) -> None:
    """Record a discrepancy; an identical open one for the same order is not repeated."""
    statement = text(
        "INSERT INTO quality_checks (user_id, account_id, order_id, broker, kind, message,"
        " details) SELECT :user_id, :account_id, :order_id, :broker, CAST(:kind AS text),"
        " CAST(:message AS text), :details"
        " WHERE NOT EXISTS (SELECT 1 FROM quality_checks WHERE resolved_at IS NULL"
        " AND order_id IS NOT DISTINCT FROM CAST(:order_id AS uuid)"
        " AND kind = CAST(:kind AS text) AND message = CAST(:message AS text))"
    ).bindparams(bindparam("details", type_=JSONB))
    await conn.execute(statement, {
        "user_id": user_id, "account_id": account_id, "order_id": order_id, "broker": broker,
        "kind": kind, "message": message, "details": details})


async def list_for_user(conn: AsyncConnection, user_id: uuid.UUID,
                        limit: int) -> Sequence[RowMapping]:
    """The user's quality checks, newest first."""
    result = await conn.execute(
        text("SELECT id, broker, account_id, order_id, kind, message, details, created_at,"
             " resolved_at FROM quality_checks WHERE user_id = :user_id"
             " ORDER BY created_at DESC, id DESC LIMIT :limit"),
        {"user_id": user_id, "limit": limit})
    return result.mappings().all()
