"""Every SQL statement about end-of-day P&L snapshots; user-facing reads start from the owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.executions import EXECUTIONS, IN_ORDER

_NAMES = ("day", "user_id", "account_id", "portfolio_id", "currency", "cash", "equity",
          "market_value", "realized_pnl", "unrealized_pnl")


async def accounts(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Every account, with its owner, broker, currency and cash."""
    result = await conn.execute(text("SELECT id, user_id, broker, currency, cash FROM accounts"))
    return result.mappings().all()


async def positions(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Every position that holds shares or P&L, with its symbol's last price (`mark`)."""
    result = await conn.execute(text(
        "SELECT p.account_id, p.quantity, p.avg_price, p.realized_pnl, q.last AS mark"
        " FROM positions p LEFT JOIN quotes q ON q.symbol = p.symbol"
        " WHERE p.quantity <> 0 OR p.realized_pnl <> 0"))
    return result.mappings().all()


async def portfolio_entries(conn: AsyncConnection) -> Sequence[RowMapping]:
    """Every fill of an order and every journaled trade that names a portfolio, per portfolio,
    account and symbol in the order they executed, with the owner, the account's broker and
    currency and the symbol's last price (`mark`)."""
    result = await conn.execute(text(
        f"SELECT h.*, a.broker, a.currency, q.last AS mark FROM {EXECUTIONS} h"
        " JOIN accounts a ON a.id = h.account_id LEFT JOIN quotes q ON q.symbol = h.symbol"
        f" WHERE h.portfolio_id IS NOT NULL ORDER BY h.portfolio_id, {IN_ORDER}"))
    return result.mappings().all()


async def insert(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Store snapshots, each of its row's `day`; a book that has one for that day keeps it.
    Returns how many were stored."""
    if not rows:
        return 0
    result = await conn.execute(
        text("INSERT INTO pnl_snapshots (day, user_id, account_id, portfolio_id, currency,"
             " cash, equity, market_value, realized_pnl, unrealized_pnl)"
             " SELECT r.* FROM unnest(CAST(:day AS date[]), CAST(:user_id AS uuid[]),"
             " CAST(:account_id AS uuid[]), CAST(:portfolio_id AS uuid[]),"
             " CAST(:currency AS text[]), CAST(:cash AS numeric[]), CAST(:equity AS numeric[]),"
             " CAST(:market_value AS numeric[]), CAST(:realized_pnl AS numeric[]),"
             " CAST(:unrealized_pnl AS numeric[])) AS r"
             " ON CONFLICT DO NOTHING RETURNING id"),
        {name: [row[name] for row in rows] for name in _NAMES})
    return len(result.all())


async def history(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID | None,
                  since: date) -> Sequence[RowMapping]:
    """The portfolio's snapshots (None: the user's accounts' own) from `since` on, by day then
    account."""
    book = "s.portfolio_id IS NULL" if portfolio_id is None else "s.portfolio_id = :portfolio_id"
    result = await conn.execute(
        text("SELECT s.day, s.account_id, a.broker, s.currency, s.market_value,"
             " s.realized_pnl, s.unrealized_pnl FROM pnl_snapshots s"
             " JOIN accounts a ON a.id = s.account_id"
             f" WHERE s.user_id = :user_id AND {book}"
             " AND s.day >= :since ORDER BY s.day, s.account_id"),
        {"user_id": user_id, "portfolio_id": portfolio_id, "since": since})
    return result.mappings().all()
