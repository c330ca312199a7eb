"""SQL for accounts and positions, always starting from the owning user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

ACCOUNT_COLUMNS = "id, broker, currency, cash, reserved_cash"


async def get_for_user(conn: AsyncConnection, user_id: uuid.UUID,
                       broker: str = "paper") -> RowMapping | None:
    """Return the user's account at this broker."""
    result = await conn.execute(
        text(f"SELECT {ACCOUNT_COLUMNS} FROM accounts"
             " WHERE user_id = :user_id AND broker = :broker ORDER BY created_at LIMIT 1"),
        {"user_id": user_id, "broker": broker})
    return result.mappings().first()


async def get_owned(conn: AsyncConnection, user_id: uuid.UUID,
                    account_id: uuid.UUID) -> RowMapping | None:
    """Return this user's account by id, or None for an absent or foreign one."""
    result = await conn.execute(
        text(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = :id AND user_id = :user_id"),
        {"id": account_id, "user_id": user_id})
    return result.mappings().first()


async def positions_for_user(conn: AsyncConnection, user_id: uuid.UUID,
                             account_id: uuid.UUID | None = None) -> Sequence[RowMapping]:
    """Return the user's positions, each with its account's broker and currency.

    Open ones and closed ones that hold realized P&L; only one account's when it is named.
    """
    result = await conn.execute(
        text("SELECT p.account_id, a.broker, a.currency, p.symbol, p.quantity, p.avg_price,"
             " p.realized_pnl, p.reserved_quantity, q.last AS mark"
             " FROM positions p JOIN accounts a ON a.id = p.account_id"
             " LEFT JOIN quotes q ON q.symbol = p.symbol"
             " WHERE p.user_id = :user_id AND (p.quantity <> 0 OR p.realized_pnl <> 0)"
             " AND (CAST(:account_id AS uuid) IS NULL OR p.account_id = :account_id)"
             " ORDER BY p.symbol, a.broker, p.account_id"),
        {"user_id": user_id, "account_id": account_id})
    return result.mappings().all()


async def intraday_net(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID,
                       symbol: str, since: datetime) -> Decimal:
    """The signed quantity the account's MIS (intraday) orders of `symbol` since `since` filled."""
    result = await conn.execute(
        text("SELECT coalesce(sum(CASE WHEN side = 'BUY' THEN filled_quantity"
             " ELSE -filled_quantity END), 0) FROM orders"
             " WHERE user_id = :user_id AND account_id = :account_id AND symbol = :symbol"
             " AND product = 'MIS' AND filled_quantity > 0 AND created_at >= :since"),
        {"user_id": user_id, "account_id": account_id, "symbol": symbol, "since": since})
    net: Decimal = result.scalar_one()
    return net


# Every (account, symbol) of a batch in one statement, in one global order (account, then
# symbol by code point, as Python sorts them): concurrent batches never deadlock. The upsert
# locks a row even when it already exists, so two first fills on one symbol cannot both start
# from flat.
_LOCK_POSITIONS = text(
    "INSERT INTO positions (account_id, symbol, user_id, quantity, avg_price)"
    " SELECT b.account_id, b.symbol, b.user_id, 0, 0 FROM unnest(CAST(:accounts AS uuid[]),"
    " CAST(:symbols AS text[]), CAST(:users AS uuid[])) AS b(account_id, symbol, user_id)"
    " ORDER BY b.account_id, b.symbol COLLATE \"C\""
    " ON CONFLICT (account_id, symbol) DO UPDATE SET updated_at = positions.updated_at"
    " RETURNING account_id, symbol, quantity, avg_price, realized_pnl, reserved_quantity")


async def lock_positions(conn: AsyncConnection,
                         books: Sequence[tuple[uuid.UUID, uuid.UUID, str]],
                         ) -> dict[tuple[uuid.UUID, str], RowMapping]:
    """Lock the positions of (account, user, symbol) triples FOR UPDATE in the global order;
    returns each row by (account, symbol), flat ones created where there were none."""
    wanted = sorted(set(books), key=lambda b: (str(b[0]), b[2]))
    if not wanted:
        return {}
    result = await conn.execute(_LOCK_POSITIONS, {
        "accounts": [b[0] for b in wanted], "users": [b[1] for b in wanted],
        "symbols": [b[2] for b in wanted]})
    return {(row["account_id"], row["symbol"]): row for row in result.mappings()}


_LOCK_ACCOUNTS = text("SELECT id FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")


async def lock_books(conn: AsyncConnection, books: Sequence[tuple[uuid.UUID, uuid.UUID, str]],
                     ) -> dict[tuple[uuid.UUID, str], RowMapping]:
    """Lock the positions, then the accounts, of (account, user, symbol) triples.

    Taking every lock up front in one global order keeps concurrent batches deadlock-free.
    """
    held = await lock_positions(conn, books)
    await conn.execute(
        _LOCK_ACCOUNTS,
        {"ids": sorted({account_id for account_id, _, _ in books}, key=str)})
    return held


_UPDATE_POSITIONS = (
    "UPDATE positions p SET quantity = w.quantity, avg_price = w.avg_price,"
    " realized_pnl = w.realized_pnl,"
    " reserved_quantity = p.reserved_quantity - w.release, updated_at = now()"
    " FROM unnest(CAST(:accounts AS uuid[]), CAST(:symbols AS text[]),"
    " CAST(:quantities AS numeric[]), CAST(:avg_prices AS numeric[]),"
    " CAST(:realized AS numeric[]), CAST(:releases AS numeric[]))"
    " AS w(account_id, symbol, quantity, avg_price, realized_pnl, release)"
    " WHERE p.account_id = w.account_id AND p.symbol = w.symbol")
_WRITE_POSITIONS = text(_UPDATE_POSITIONS)


async def write_positions(conn: AsyncConnection,
                          written: Sequence[tuple[uuid.UUID, str, Decimal, Decimal, Decimal,
                                                  Decimal]]) -> None:
    """Set locked positions' (account, symbol, quantity, avg_price, realized_pnl) and release
    the shares their SELLs had reserved (the last item), one statement for all."""
    if not written:
        return
    columns = list(zip(*written, strict=True))
    await conn.execute(
        _WRITE_POSITIONS,
        {"accounts": list(columns[0]), "symbols": list(columns[1]),
         "quantities": list(columns[2]), "avg_prices": list(columns[3]),
         "realized": list(columns[4]), "releases": list(columns[5])})


def _update_cash(releases: str) -> str:
    return ("UPDATE accounts a SET cash = a.cash + m.delta,"
            " reserved_cash = a.reserved_cash - m.release"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:deltas AS numeric[]),"
            f" CAST(:{releases} AS numeric[])) AS m(id, delta, release) WHERE a.id = m.id")


_MOVE_CASH = text(_update_cash("releases"))


async def move_cash(conn: AsyncConnection,
                    moves: Sequence[tuple[uuid.UUID, Decimal, Decimal]]) -> None:
    """Move each (account, delta, release) account's cash by delta and release that much of
    its reserved cash, one statement for all."""
    if not moves:
        return
    columns = list(zip(*moves, strict=True))
    await conn.execute(
        _MOVE_CASH,
        {"ids": list(columns[0]), "deltas": list(columns[1]), "releases": list(columns[2])})


# The fill path's positions and cash in one statement: both sets of rows are already locked
# (the positions by lock_positions, the accounts by lock_books or, in the broker path, only
# here, after the positions: the global order holds either way).
_WRITE_BOOKS = text(f"WITH written AS ({_UPDATE_POSITIONS} RETURNING 1)"
                    f" {_update_cash('cash_releases')}")


async def write_books(conn: AsyncConnection,
                      written: Sequence[tuple[uuid.UUID, str, Decimal, Decimal, Decimal,
                                              Decimal]],
                      moves: Sequence[tuple[uuid.UUID, Decimal, Decimal]]) -> None:
    """`write_positions` and `move_cash` in one statement (one round trip for a batch)."""
    if not (written or moves):
        return
    positions: list[tuple[Any, ...]] = list(zip(*written, strict=True)) or [()] * 6
    cash: list[tuple[Any, ...]] = list(zip(*moves, strict=True)) or [()] * 3
    await conn.execute(_WRITE_BOOKS, {
        "accounts": list(positions[0]), "symbols": list(positions[1]),
        "quantities": list(positions[2]), "avg_prices": list(positions[3]),
        "realized": list(positions[4]), "releases": list(positions[5]),
        "ids": list(cash[0]), "deltas": list(cash[1]), "cash_releases": list(cash[2])})


async def routes_for_user(conn: AsyncConnection, user_id: uuid.UUID, *,
                          account_id: uuid.UUID | None,
                          broker: str | None) -> Sequence[RowMapping]:
    """The user's accounts an order could go to: the one named, else those at `broker`."""
    result = await conn.execute(
        text("SELECT id, broker, status, token_expires_at, currency FROM accounts"
             " WHERE user_id = :user_id AND status <> 'revoked'"
             " AND (CAST(:account_id AS uuid) IS NULL OR id = :account_id)"
             " AND (CAST(:broker AS text) IS NULL OR broker = :broker)"
             " ORDER BY created_at"),
        {"user_id": user_id, "account_id": account_id, "broker": broker})
    return result.mappings().all()


async def connection(conn: AsyncConnection, account_id: uuid.UUID) -> RowMapping | None:
    """A broker connection with its sealed credentials (worker side: ids come from our rows)."""
    result = await conn.execute(
        text("SELECT id, user_id, broker, status, credentials, broker_user_id FROM accounts"
             " WHERE id = :id"), {"id": account_id})
    return result.mappings().first()


async def mark_expired(conn: AsyncConnection, account_id: uuid.UUID, reason: str) -> None:
    """Show on the connection that its broker session ended and a new login is needed."""
    await conn.execute(
        text("UPDATE accounts SET status = 'expired', last_error = :reason, updated_at = now()"
             " WHERE id = :id AND status = 'active'"), {"id": account_id, "reason": reason})
