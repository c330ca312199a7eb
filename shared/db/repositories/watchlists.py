"""Every SQL statement about watchlists and their items; each read starts from the owner.

Writers that change a user's set of watchlists (create, rename, delete) lock the user's row,
and writers that change one watchlist's items lock that watchlist's row: the caps and the
uniqueness checks below then count what every concurrent writer has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import pages
from shared.db.repositories.pages import Cursor

ItemCursor = tuple[int, str]  # (position, symbol) of the last item of a page

_COUNT = ("(SELECT count(*) FROM watchlist_items i WHERE i.watchlist_id = watchlists.id)"
          " AS item_count")
_WATCHLIST = f"id, name, created_at, updated_at, {_COUNT}"
# An item with its instrument and its quote (none yet for a freshly listed instrument).
_ITEMS = (
    "SELECT i.symbol, i.position, i.created_at AS added_at, n.name, n.exchange, n.currency,"
    " q.bid, q.ask, q.last, q.ts AS quoted_at"
    " FROM watchlists w JOIN watchlist_items i ON i.watchlist_id = w.id"
    " JOIN instruments n ON n.symbol = i.symbol LEFT JOIN quotes q ON q.symbol = i.symbol"
    " WHERE w.user_id = :user_id AND w.id = :watchlist_id"
)


async def lock_owner(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Lock the user's row against other watchlist writers (not against logins or inserts
    that reference the user: FOR NO KEY UPDATE)."""
    await conn.execute(text("SELECT 1 FROM users WHERE id = :id FOR NO KEY UPDATE"),
                       {"id": user_id})


async def count_for_user(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """How many watchlists the user has."""
    result = await conn.execute(text("SELECT count(*) FROM watchlists WHERE user_id = :id"),
                                {"id": user_id})
    return int(result.scalar_one())


async def name_taken(conn: AsyncConnection, user_id: uuid.UUID, name_key: str,
                     other_than: uuid.UUID | None = None) -> bool:
    """Whether another of the user's watchlists has this name key."""
    result = await conn.execute(
        text("SELECT 1 FROM watchlists WHERE user_id = :user_id AND name_key = :key"
             " AND id IS DISTINCT FROM :other"),
        {"user_id": user_id, "key": name_key, "other": other_than})
    return result.first() is not None


async def insert(conn: AsyncConnection, user_id: uuid.UUID, name: str, name_key: str
                 ) -> RowMapping:
    """Store a new, empty watchlist; return it as listed."""
    result = await conn.execute(
        text("INSERT INTO watchlists (id, user_id, name, name_key)"
             " VALUES (:id, :user_id, :name, :key)"
             " RETURNING id, name, created_at, updated_at, 0 AS item_count"),
        {"id": uuid.uuid4(), "user_id": user_id, "name": name, "key": name_key})
    return result.mappings().one()


async def list_page(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                    after: Cursor | None) -> Sequence[RowMapping]:
    """The user's watchlists, newest first, after `after`."""
    return await pages.newest_first(conn, table="watchlists", columns=_WATCHLIST,
                                    user_id=user_id, filters={}, limit=limit, after=after)


async def get(conn: AsyncConnection, user_id: uuid.UUID, watchlist_id: uuid.UUID, *,
              lock: bool = False) -> RowMapping | None:
    """One of the user's watchlists (row-locked if `lock`); None if the user has no such one."""
    suffix = " FOR NO KEY UPDATE" if lock else ""
    result = await conn.execute(
        text(f"SELECT {_WATCHLIST} FROM watchlists WHERE user_id = :user_id AND id = :id"
             + suffix), {"user_id": user_id, "id": watchlist_id})
    return result.mappings().first()


async def rename(conn: AsyncConnection, user_id: uuid.UUID, watchlist_id: uuid.UUID,
                 name: str, name_key: str) -> RowMapping | None:
    """Rename one of the user's watchlists; None if the user has no such one."""
    result = await conn.execute(
        text("UPDATE watchlists SET name = :name, name_key = :key, updated_at = now()"
             f" WHERE user_id = :user_id AND id = :id RETURNING {_WATCHLIST}"),
        {"user_id": user_id, "id": watchlist_id, "name": name, "key": name_key})
    return result.mappings().first()


async def delete(conn: AsyncConnection, user_id: uuid.UUID, watchlist_id: uuid.UUID) -> bool:
    """Delete one of the user's watchlists with its items; False if the user has no such one."""
    result = await conn.execute(
        text("DELETE FROM watchlists WHERE user_id = :user_id AND id = :id RETURNING id"),
        {"user_id": user_id, "id": watchlist_id})
    return result.first() is not None


async def instrument_exists(conn: AsyncConnection, symbol: str) -> bool:
    """Whether `symbol` is in the instrument master."""
    result = await conn.execute(text("SELECT 1 FROM instruments WHERE symbol = :symbol"),
                                {"symbol": symbol})
    return result.first() is not None


async def add_item(conn: AsyncConnection, watchlist_id: uuid.UUID, symbol: str) -> bool:
    """List `symbol` last in the watchlist (whose row the caller has locked); False if it is
    already listed."""
    result = await conn.execute(
        text("INSERT INTO watchlist_items (watchlist_id, symbol, position)"
             " SELECT :watchlist_id, :symbol, coalesce(max(position), 0) + 1"
             " FROM watchlist_items WHERE watchlist_id = :watchlist_id"
             " ON CONFLICT DO NOTHING RETURNING symbol"),
        {"watchlist_id": watchlist_id, "symbol": symbol})
    if result.first() is None:
        return False
    await _touch(conn, watchlist_id)
    return True


async def remove_item(conn: AsyncConnection, watchlist_id: uuid.UUID, symbol: str) -> bool:
    """Take `symbol` off the watchlist; False if it was not listed."""
    result = await conn.execute(
        text("DELETE FROM watchlist_items WHERE watchlist_id = :watchlist_id"
             " AND symbol = :symbol RETURNING symbol"),
        {"watchlist_id": watchlist_id, "symbol": symbol})
    if result.first() is None:
        return False
    await _touch(conn, watchlist_id)
    return True


async def listed_symbols(conn: AsyncConnection, watchlist_id: uuid.UUID) -> list[str]:
    """Every symbol of the watchlist, in its order."""
    result = await conn.execute(
        text("SELECT symbol FROM watchlist_items WHERE watchlist_id = :watchlist_id"
             " ORDER BY position, symbol"), {"watchlist_id": watchlist_id})
    return list(result.scalars())


async def reorder(conn: AsyncConnection, watchlist_id: uuid.UUID, symbols: list[str]) -> None:
    """Number the watchlist's items 1, 2, … in the order of `symbols` (all of them)."""
    await conn.execute(
        text("UPDATE watchlist_items i SET position = o.n"
             " FROM unnest(CAST(:symbols AS text[])) WITH ORDINALITY AS o(symbol, n)"
             " WHERE i.watchlist_id = :watchlist_id AND i.symbol = o.symbol"),
        {"watchlist_id": watchlist_id, "symbols": symbols})
    await _touch(conn, watchlist_id)


async def item(conn: AsyncConnection, user_id: uuid.UUID, watchlist_id: uuid.UUID,
               symbol: str) -> RowMapping | None:
    """One item of one of the user's watchlists, with its quote."""
    result = await conn.execute(text(_ITEMS + " AND i.symbol = :symbol"),
                                {"user_id": user_id, "watchlist_id": watchlist_id,
                                 "symbol": symbol})
    return result.mappings().first()


async def items_page(conn: AsyncConnection, user_id: uuid.UUID, watchlist_id: uuid.UUID,
                     limit: int, after: ItemCursor | None) -> Sequence[RowMapping]:
    """Items of one of the user's watchlists in the list's order, with their quotes."""
    params: dict[str, Any] = {"user_id": user_id, "watchlist_id": watchlist_id, "limit": limit}
    keyset = ""
    if after is not None:
        keyset = " AND (i.position, i.symbol) > (:after_position, :after_symbol)"
        params["after_position"], params["after_symbol"] = after
    result = await conn.execute(
        text(_ITEMS + keyset + " ORDER BY i.position, i.symbol LIMIT :limit"), params)
    return result.mappings().all()


async def count_items(conn: AsyncConnection, watchlist_id: uuid.UUID) -> int:
    """How many symbols the watchlist lists."""
    result = await conn.execute(
        text("SELECT count(*) FROM watchlist_items WHERE watchlist_id = :watchlist_id"),
        {"watchlist_id": watchlist_id})
    return int(result.scalar_one())


async def _touch(conn: AsyncConnection, watchlist_id: uuid.UUID) -> None:
    await conn.execute(text("UPDATE watchlists SET updated_at = now() WHERE id = :id"),
                       {"id": watchlist_id})
