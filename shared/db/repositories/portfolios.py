"""Every SQL statement about portfolios; each read starts from the owner.

Writers that change a user's set of portfolios (create, rename, delete) lock the user's row,
so the cap and the name check count what every concurrent writer has committed. Orders and
journaled trades name a portfolio through a composite foreign key (user_id, portfolio_id):
the database refuses another user's portfolio and the deletion of one still named.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import pages
from shared.db.repositories.executions import EXECUTIONS, IN_ORDER
from shared.db.repositories.pages import Cursor

COLUMNS = "id, name, description, created_at, updated_at"


async def lock_owner(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Lock the user's row against other portfolio writers (FOR NO KEY UPDATE: logins and
    inserts that reference the user go on)."""
    await conn.execute(text("SELECT 1 FROM users WHERE id = :id FOR NO KEY UPDATE"),
                       {"id": user_id})


async def count_for_user(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """How many portfolios the user has."""
    result = await conn.execute(text("SELECT count(*) FROM portfolios WHERE user_id = :id"),
                                {"id": user_id})
    return int(result.scalar_one())


async def name_taken(conn: AsyncConnection, user_id: uuid.UUID, name_key: str,
                     other_than: uuid.UUID | None = None) -> bool:
    """Whether another of the user's portfolios has this name key."""
    result = await conn.execute(
        text("SELECT 1 FROM portfolios WHERE user_id = :user_id AND name_key = :key"
             " AND id IS DISTINCT FROM :other"),
        {"user_id": user_id, "key": name_key, "other": other_than})
    return result.first() is not None


async def insert(conn: AsyncConnection, user_id: uuid.UUID, name: str, name_key: str,
                 description: str | None) -> RowMapping:
    """Store a new portfolio."""
    result = await conn.execute(
        text("INSERT INTO portfolios (id, user_id, name, name_key, description)"
             f" VALUES (:id, :user_id, :name, :key, :description) RETURNING {COLUMNS}"),
        {"id": uuid.uuid4(), "user_id": user_id, "name": name, "key": name_key,
         "description": description})
    return result.mappings().one()


async def list_page(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                    after: Cursor | None) -> Sequence[RowMapping]:
    """The user's portfolios, newest first, after `after`."""
    return await pages.newest_first(conn, table="portfolios", columns=COLUMNS,
                                    user_id=user_id, filters={}, limit=limit, after=after)


async def get(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID, *,
              lock: bool = False) -> RowMapping | None:
    """One of the user's portfolios (locked against deletion if `lock`); None if the user has
    no such one."""
    result = await conn.execute(
        text(f"SELECT {COLUMNS} FROM portfolios WHERE user_id = :user_id AND id = :id"
             + (" FOR UPDATE" if lock else "")), {"user_id": user_id, "id": portfolio_id})
    return result.mappings().first()


async def update(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID,
                 fields: dict[str, Any]) -> RowMapping | None:
    """Set these columns (name, name_key, description) of one of the user's portfolios;
    None if the user has no such one."""
    sets = "".join(f"{name} = :{name}, " for name in fields)
    result = await conn.execute(
        text(f"UPDATE portfolios SET {sets}updated_at = now()"
             f" WHERE user_id = :user_id AND id = :id RETURNING {COLUMNS}"),
        {**fields, "user_id": user_id, "id": portfolio_id})
    return result.mappings().first()


async def references(conn: AsyncConnection, user_id: uuid.UUID,
                     portfolio_id: uuid.UUID) -> RowMapping:
    """How many orders and journaled trades name the portfolio."""
    result = await conn.execute(
        text("SELECT (SELECT count(*) FROM orders WHERE portfolio_id = :id"
             "  AND user_id = :user_id) AS orders,"
             " (SELECT count(*) FROM trades WHERE portfolio_id = :id"
             "  AND user_id = :user_id) AS trades"),
        {"user_id": user_id, "id": portfolio_id})
    return result.mappings().one()


async def delete(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID) -> None:
    """Delete one of the user's portfolios (locked by get, named by nothing)."""
    await conn.execute(text("DELETE FROM portfolios WHERE user_id = :user_id AND id = :id"),
                       {"user_id": user_id, "id": portfolio_id})


async def entries(conn: AsyncConnection, user_id: uuid.UUID,
                  portfolio_id: uuid.UUID) -> Sequence[RowMapping]:
    """Every fill of the portfolio's orders and every journaled trade naming it, per account
    and symbol in the order they executed, each with its charges, its account's broker and
    currency and the symbol's last price (`mark`, null without a quote)."""
    result = await conn.execute(
        text(f"SELECT h.*, a.broker, a.currency, q.last AS mark FROM {EXECUTIONS} h"
             " JOIN accounts a ON a.id = h.account_id"
             " LEFT JOIN quotes q ON q.symbol = h.symbol"
             " WHERE h.user_id = :user_id AND h.portfolio_id = :portfolio_id"
             f" ORDER BY {IN_ORDER}"),
        {"user_id": user_id, "portfolio_id": portfolio_id})
    return result.mappings().all()
