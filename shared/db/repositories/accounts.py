"""SQL for accounts and positions, always starting from the owning user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

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


async def lock_position(conn: AsyncConnection, account_id: uuid.UUID, user_id: uuid.UUID,
                        symbol: str) -> RowMapping:
    """Return the position row locked FOR UPDATE, creating a flat one if there is none.

    The upsert locks the row even when it already exists, so two first fills on one symbol
    cannot both start from flat.
    """
    result = await conn.execute(
        text("INSERT INTO positions (account_id, symbol, user_id, quantity, avg_price)"
             " VALUES (:account_id, :symbol, :user_id, 0, 0)"
             " ON CONFLICT (account_id, symbol) DO UPDATE SET updated_at = positions.updated_at"
             " RETURNING quantity, avg_price, realized_pnl, reserved_quantity"),
        {"account_id": account_id, "symbol": symbol, "user_id": user_id})
    return result.mappings().one()


async def update_position(conn: AsyncConnection, account_id: uuid.UUID, symbol: str, *,
                          quantity: Decimal, avg_price: Decimal, realized_pnl: Decimal,
                          release_quantity: Decimal) -> None:
    """Write a locked position's new state and release shares a SELL had reserved."""
    await conn.execute(
        text("UPDATE positions SET quantity = :quantity, avg_price = :avg_price,"
             " realized_pnl = :realized_pnl,"
             " reserved_quantity = reserved_quantity - :release_quantity, updated_at = now()"
             " WHERE account_id = :account_id AND symbol = :symbol"),
        {"account_id": account_id, "symbol": symbol, "quantity": quantity,
         "avg_price": avg_price, "realized_pnl": realized_pnl,
         "release_quantity": release_quantity})


async def apply_cash(conn: AsyncConnection, account_id: uuid.UUID, *, delta: Decimal,
                     release: Decimal) -> None:
    """Move cash by `delta` and release `release` of the account's reserved cash."""
    await conn.execute(
        text("UPDATE accounts SET cash = cash + :delta, reserved_cash = reserved_cash - :release"
             " WHERE id = :id"),
        {"id": account_id, "delta": delta, "release": release})


async def lock_books(conn: AsyncConnection,
                     books: Sequence[tuple[uuid.UUID, uuid.UUID, str]]) -> None:
    """Lock the positions, then the accounts, of (account, user, symbol) triples, sorted.

    Taking every lock up front in one global order keeps concurrent batches deadlock-free.
    """
    for account_id, user_id, symbol in sorted(set(books), key=lambda b: (str(b[0]), b[2])):
        await lock_position(conn, account_id, user_id, symbol)
    await conn.execute(
        text("SELECT id FROM accounts WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
        {"ids": sorted({account_id for account_id, _, _ in books}, key=str)})


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
