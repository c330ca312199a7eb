"""Create, rename, delete and list a user's watchlists, and the symbols in each.

Never commits: the router owns the transactions. Another user's watchlist is not found, like
one that does not exist (404, never 403).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from api.pages import keyset_cursor, read_keyset_cursor
from api.watchlists import cursors
from api.watchlists.schemas import ItemOut, ItemPage, QuoteOut, WatchlistOut, WatchlistPage
from shared.db.repositories import watchlists
from shared.domain.errors import Conflict, DomainError, NotFound
from shared.domain.values import decimal_str
from shared.domain.watchlists import name_key
from shared.settings import Settings


class InvalidWatchlist(DomainError):
    kind = "invalid"
    default_code = "invalid_watchlist"


async def create(conn: AsyncConnection, settings: Settings, user_id: uuid.UUID,
                 name: str) -> WatchlistOut:
    """Store a new, empty watchlist; 409 if the name is taken, 422 past the per-user cap."""
    await watchlists.lock_owner(conn, user_id)
    limit = settings.max_watchlists_per_user
    if await watchlists.count_for_user(conn, user_id) >= limit:
        raise InvalidWatchlist(f"a user may hold at most {limit} watchlists; delete one first",
                               code="too_many_watchlists", details={"field": None,
                                                                    "limit": limit})
    key = name_key(name)
    if await watchlists.name_taken(conn, user_id, key):
        raise _name_taken(name)
    return _watchlist(await watchlists.insert(conn, user_id, name, key))


async def list_page(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                    cursor: str | None) -> WatchlistPage:
    """A page of the user's watchlists, newest first."""
    after = read_keyset_cursor(cursor) if cursor else None
    rows = await watchlists.list_page(conn, user_id, limit, after)
    last = rows[-1] if len(rows) == limit else None
    return WatchlistPage(
        items=[_watchlist(row) for row in rows],
        next_cursor=keyset_cursor(last["created_at"], last["id"]) if last else None)


async def get(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> WatchlistOut:
    """One of the user's watchlists."""
    return _watchlist(await _owned(conn, user_id, raw_id))


async def rename(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str,
                 name: str) -> WatchlistOut:
    """Rename one of the user's watchlists; 409 if another of theirs has the name."""
    watchlist_id = _parse_id(raw_id)
    await watchlists.lock_owner(conn, user_id)
    key = name_key(name)
    if await watchlists.name_taken(conn, user_id, key, other_than=watchlist_id):
        raise _name_taken(name)
    row = await watchlists.rename(conn, user_id, watchlist_id, name, key)
    if row is None:
        raise _not_found(raw_id)
    return _watchlist(row)


async def delete(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str) -> None:
    """Delete one of the user's watchlists with its items."""
    if not await watchlists.delete(conn, user_id, _parse_id(raw_id)):
        raise _not_found(raw_id)


async def add_item(conn: AsyncConnection, settings: Settings, user_id: uuid.UUID,
                   raw_id: str, symbol: str) -> ItemOut:
    """List a symbol last; 422 for an unknown symbol or past the cap, 409 if already listed."""
    watchlist = await _owned(conn, user_id, raw_id, lock=True)
    if not await watchlists.instrument_exists(conn, symbol):
        raise InvalidWatchlist(f"unknown symbol {symbol!r}: it is not in the instrument master",
                               code="unknown_symbol", details={"field": "symbol"})
    limit = settings.max_watchlist_items
    # Counted after the lock, not read with it: a locking SELECT that waited re-reads the row
    # it locked, but its subquery's count still comes from before the wait.
    if await watchlists.count_items(conn, watchlist["id"]) >= limit:
        raise InvalidWatchlist(f"a watchlist lists at most {limit} symbols; remove one first",
                               code="too_many_watchlist_items",
                               details={"field": None, "limit": limit})
    if not await watchlists.add_item(conn, watchlist["id"], symbol):
        raise Conflict(f"{symbol} is already in watchlist {watchlist['name']!r}",
                       code="symbol_already_listed", details={"field": "symbol"})
    row = await watchlists.item(conn, user_id, watchlist["id"], symbol)
    assert row is not None, "an item just inserted under the watchlist's lock"
    return _item(row)


async def items_page(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, limit: int,
                     cursor: str | None) -> ItemPage:
    """A page of a watchlist's symbols in the list's order, each with its current quote."""
    after = cursors.read_item_cursor(cursor) if cursor else None
    watchlist = await _owned(conn, user_id, raw_id)
    rows = await watchlists.items_page(conn, user_id, watchlist["id"], limit, after)
    last = rows[-1] if len(rows) == limit else None
    return ItemPage(
        items=[_item(row) for row in rows],
        next_cursor=cursors.item_cursor(last["position"], last["symbol"]) if last else None)


async def remove_item(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str,
                      symbol: str) -> None:
    """Take a symbol off one of the user's watchlists; 404 if it is not listed there."""
    watchlist = await _owned(conn, user_id, raw_id, lock=True)
    if not await watchlists.remove_item(conn, watchlist["id"], symbol):
        raise NotFound(f"{symbol} is not in watchlist {watchlist['name']!r}",
                       details={"field": "symbol"})


async def reorder(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str,
                  symbols: list[str]) -> None:
    """Put a watchlist's symbols in the given order; 422 unless it names each exactly once."""
    watchlist = await _owned(conn, user_id, raw_id, lock=True)
    listed = await watchlists.listed_symbols(conn, watchlist["id"])
    if len(symbols) != len(set(symbols)) or set(symbols) != set(listed):
        missing, extra = sorted(set(listed) - set(symbols)), sorted(set(symbols) - set(listed))
        raise InvalidWatchlist(
            "symbols must name every symbol of the watchlist exactly once",
            code="invalid_order_of_symbols",
            details={"field": "symbols", "missing": missing, "not_listed": extra})
    await watchlists.reorder(conn, watchlist["id"], symbols)


async def _owned(conn: AsyncConnection, user_id: uuid.UUID, raw_id: str, *,
                 lock: bool = False) -> Mapping[Any, Any]:
    row = await watchlists.get(conn, user_id, _parse_id(raw_id), lock=lock)
    if row is None:
        raise _not_found(raw_id)
    return row


def _parse_id(raw: str) -> uuid.UUID:
    """A watchlist id from the path; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _not_found(raw) from None


def _not_found(raw: str) -> NotFound:
    return NotFound(f"watchlist {raw} not found", details={"field": "watchlist_id"})


def _name_taken(name: str) -> Conflict:
    return Conflict(f"you already have a watchlist named {name!r}",
                    code="watchlist_name_taken", details={"field": "name"})


def _watchlist(row: Mapping[Any, Any]) -> WatchlistOut:
    return WatchlistOut(id=row["id"], name=row["name"], item_count=row["item_count"],
                        created_at=row["created_at"], updated_at=row["updated_at"])


def _item(row: Mapping[Any, Any]) -> ItemOut:
    quote = None
    if row["last"] is not None:
        quote = QuoteOut(bid=decimal_str(row["bid"]), ask=decimal_str(row["ask"]),
                         last=decimal_str(row["last"]), at=row["quoted_at"])
    return ItemOut(symbol=row["symbol"], name=row["name"], exchange=row["exchange"],
                   currency=row["currency"], position=row["position"],
                   added_at=row["added_at"], quote=quote)
