"""SQL for the kill switch: an account's `halted_at`, always starting from the owning user."""

from __future__ import annotations

import uuid

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

_COLUMNS = "id, broker, halted_at"


async def state(conn: AsyncConnection, user_id: uuid.UUID,
                account_id: uuid.UUID | None) -> RowMapping | None:
    """The account named (default: the paper account) with its halt, or None if not theirs."""
    result = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM accounts WHERE user_id = :user_id AND"
             " (CASE WHEN CAST(:account_id AS uuid) IS NULL THEN broker = 'paper'"
             "  ELSE id = :account_id END)"),
        {"user_id": user_id, "account_id": account_id})
    return result.mappings().first()


async def set_halted(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID, *,
                     halted: bool) -> RowMapping:
    """Halt the account, or lift its halt; a halt already in force keeps the time it began."""
    result = await conn.execute(
        text("UPDATE accounts SET updated_at = now(), halted_at ="
             " CASE WHEN :halted THEN coalesce(halted_at, now()) END"
             f" WHERE id = :id AND user_id = :user_id RETURNING {_COLUMNS}"),
        {"id": account_id, "user_id": user_id, "halted": halted})
    return result.mappings().one()
