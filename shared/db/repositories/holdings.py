"""Every SQL statement about holdings and the end-of-day settlement; reads start from the owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.executions import EXECUTIONS, IN_ORDER

HoldingCursor = tuple[str, str]  # (symbol, account id) of the last item of a page

_COLUMNS = ("h.account_id, a.broker, a.currency, h.exchange, h.symbol, h.quantity,"
            " h.t1_quantity, h.avg_price, h.trading_day, q.last AS mark")


async def start_run(conn: AsyncConnection, exchange: str, day: date) -> bool:
    """Record that `exchange`'s trading day `day` is being settled; False if it was already
    (the row is then another transaction's, committed or waited for)."""
    result = await conn.execute(
        text("INSERT INTO settlement_runs (exchange, trading_day) VALUES (:exchange, :day)"
             " ON CONFLICT DO NOTHING RETURNING exchange"), {"exchange": exchange, "day": day})
    return result.first() is not None


async def entries(conn: AsyncConnection, exchange: str, until: datetime,
                  unsettled_from: datetime) -> Sequence[RowMapping]:
    """Every fill and journaled trade in `exchange`'s instruments executed before `until`, per
    account and symbol in the order they executed, with its portfolio (or null) and whether
    it is still unsettled (executed at or after `unsettled_from`)."""
    result = await conn.execute(
        text("SELECT h.user_id, h.account_id, h.portfolio_id, h.symbol, h.side, h.quantity,"
             f" h.price, h.executed_at >= :unsettled_from AS unsettled FROM {EXECUTIONS} h"
             " JOIN instruments i ON i.symbol = h.symbol AND i.exchange = :exchange"
             f" WHERE h.executed_at < :until ORDER BY {IN_ORDER}"),
        {"exchange": exchange, "until": until, "unsettled_from": unsettled_from})
    return result.mappings().all()


async def replace(conn: AsyncConnection, exchange: str, rows: Sequence[dict[str, Any]]) -> None:
    """Make `rows` the holdings of `exchange`'s instruments (every earlier one goes)."""
    await conn.execute(text("DELETE FROM holdings WHERE exchange = :exchange"),
                       {"exchange": exchange})
    if not rows:
        return
    names = ("user_id", "account_id", "portfolio_id", "symbol", "quantity", "t1_quantity",
             "avg_price", "trading_day")
    await conn.execute(
        text("INSERT INTO holdings (exchange, user_id, account_id, portfolio_id, symbol,"
             " quantity, t1_quantity, avg_price, trading_day)"
             " SELECT :exchange, r.* FROM unnest(CAST(:user_id AS uuid[]),"
             " CAST(:account_id AS uuid[]), CAST(:portfolio_id AS uuid[]),"
             " CAST(:symbol AS text[]), CAST(:quantity AS numeric[]),"
             " CAST(:t1_quantity AS numeric[]), CAST(:avg_price AS numeric[]),"
             " CAST(:trading_day AS date[])) AS r"),
        {"exchange": exchange, **{name: [row[name] for row in rows] for name in names}})


async def page(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID | None, *,
               account_id: uuid.UUID | None, limit: int,
               after: HoldingCursor | None) -> Sequence[RowMapping]:
    """Up to `limit` of the user's holdings (of the portfolio, or of the accounts when None)
    by symbol and account, after `after`, each with the symbol's last price."""
    clauses = ["h.user_id = :user_id", "h.portfolio_id IS NULL" if portfolio_id is None
               else "h.portfolio_id = :portfolio_id"]
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    if portfolio_id is not None:
        params["portfolio_id"] = portfolio_id
    if account_id is not None:
        clauses.append("h.account_id = :account_id")
        params["account_id"] = account_id
    if after is not None:
        clauses.append("(h.symbol, h.account_id) > (:after_symbol, CAST(:after_account AS uuid))")
        params["after_symbol"], params["after_account"] = after
    result = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM holdings h JOIN accounts a ON a.id = h.account_id"
             " LEFT JOIN quotes q ON q.symbol = h.symbol"
             f" WHERE {' AND '.join(clauses)}"
             " ORDER BY h.symbol, h.account_id LIMIT :limit"), params)
    return result.mappings().all()
