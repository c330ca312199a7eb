"""SQL of the trades journal, always starting from the owning user."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories.pages import Cursor, keyset

COLUMNS = ("id, account_id, symbol, side, quantity, price, executed_at, brokerage_charge,"
           " mtf_charge, type, notes, source, external_id, portfolio_id, created_at,"
           " updated_at")
_FIELDS = ("account_id", "symbol", "side", "quantity", "price", "executed_at",
           "brokerage_charge", "mtf_charge", "type", "notes")
_WRITTEN = (*_FIELDS, "portfolio_id")  # what a typed-in trade sets


async def instrument(conn: AsyncConnection, symbol: str) -> RowMapping | None:
    """The instrument master's row of `symbol`."""
    return (await currencies(conn, [symbol])).get(symbol)


async def currencies(conn: AsyncConnection, symbols: Sequence[str]) -> dict[str, RowMapping]:
    """The instrument master's rows of these symbols (absent ones left out), by symbol."""
    result = await conn.execute(
        text("SELECT symbol, currency FROM instruments WHERE symbol = ANY(:symbols)"),
        {"symbols": list(symbols)})
    return {row["symbol"]: row for row in result.mappings()}


async def insert(conn: AsyncConnection, user_id: uuid.UUID, fields: dict[str, Any]) -> RowMapping:
    """Journal one trade."""
    result = await conn.execute(
        text(f"INSERT INTO trades (id, user_id, {', '.join(_WRITTEN)})"
             f" VALUES (:id, :user_id, {', '.join(':' + f for f in _WRITTEN)})"
             f" RETURNING {COLUMNS}"),
        {"id": uuid.uuid4(), "user_id": user_id, **fields})
    return result.mappings().one()


async def insert_many(conn: AsyncConnection, user_id: uuid.UUID, account_id: uuid.UUID,
                      rows: Sequence[dict[str, Any]]) -> Sequence[RowMapping]:
    """Journal imported trades in one statement; those whose external id the account already
    has are skipped. Returns the ones added."""
    if not rows:
        return []
    names = (*_FIELDS[1:], "external_id", "portfolio_id")
    columns = {name: [row[name] for row in rows] for name in names}
    result = await conn.execute(
        text("INSERT INTO trades (id, user_id, account_id, source, symbol, side, quantity,"
             " price, executed_at, brokerage_charge, mtf_charge, type, notes, external_id,"
             " portfolio_id)"
             " SELECT gen_random_uuid(), :user_id, :account_id, 'tradebook', r.* FROM unnest("
             " CAST(:symbol AS text[]), CAST(:side AS text[]), CAST(:quantity AS numeric[]),"
             " CAST(:price AS numeric[]), CAST(:executed_at AS timestamptz[]),"
             " CAST(:brokerage_charge AS numeric[]), CAST(:mtf_charge AS numeric[]),"
             " CAST(:type AS text[]), CAST(:notes AS text[]), CAST(:external_id AS text[]),"
             " CAST(:portfolio_id AS uuid[]))"
             " AS r ON CONFLICT (account_id, external_id) DO NOTHING"
             f" RETURNING {COLUMNS}"),
        {"user_id": user_id, "account_id": account_id, **columns})
    return result.mappings().all()


async def get_owned(conn: AsyncConnection, user_id: uuid.UUID, trade_id: uuid.UUID, *,
                    lock: bool = False) -> RowMapping | None:
    """The user's trade, or None for an absent or foreign one."""
    result = await conn.execute(
        text(f"SELECT {COLUMNS} FROM trades WHERE id = :id AND user_id = :user_id"
             + (" FOR UPDATE" if lock else "")), {"id": trade_id, "user_id": user_id})
    return result.mappings().first()


async def replace(conn: AsyncConnection, user_id: uuid.UUID, trade_id: uuid.UUID,
                  fields: dict[str, Any]) -> RowMapping:
    """Replace every field of the user's trade (locked by get_owned)."""
    result = await conn.execute(
        text(f"UPDATE trades SET {', '.join(f'{f} = :{f}' for f in _WRITTEN)},"
             f" updated_at = now() WHERE id = :id AND user_id = :user_id RETURNING {COLUMNS}"),
        {"id": trade_id, "user_id": user_id, **fields})
    return result.mappings().one()


async def delete(conn: AsyncConnection, user_id: uuid.UUID, trade_id: uuid.UUID) -> None:
    """Delete the user's trade (locked by get_owned)."""
    await conn.execute(text("DELETE FROM trades WHERE id = :id AND user_id = :user_id"),
                       {"id": trade_id, "user_id": user_id})


async def page(conn: AsyncConnection, user_id: uuid.UUID, *, symbol: str | None,
               since: datetime | None, until: datetime | None, limit: int,
               after: Cursor | None) -> Sequence[RowMapping]:
    """Up to `limit` of the user's trades, the latest executed first, after `after`."""
    clauses = ["user_id = :user_id"]
    params: dict[str, Any] = {"user_id": user_id}
    for clause, name, value in (("symbol = :symbol", "symbol", symbol),
                                ("executed_at >= :since", "since", since),
                                ("executed_at < :until", "until", until)):
        if value is not None:
            clauses.append(clause)
            params[name] = value
    return await keyset(conn, table="trades", columns=COLUMNS, where=clauses, params=params,
                        limit=limit, after=after, by="executed_at")


async def history(conn: AsyncConnection, account_id: uuid.UUID,
                  symbol: str) -> Sequence[RowMapping]:
    """Every fill and journaled trade of one account's symbol, in the order they executed."""
    result = await conn.execute(
        text("SELECT side, quantity, price FROM ("
             " SELECT side, quantity, price, executed_at, created_at, id FROM fills"
             "  WHERE account_id = :account_id AND symbol = :symbol"
             " UNION ALL"
             " SELECT side, quantity, price, executed_at, created_at, id FROM trades"
             "  WHERE account_id = :account_id AND symbol = :symbol) h"
             " ORDER BY executed_at, created_at, id"),
        {"account_id": account_id, "symbol": symbol})
    return result.mappings().all()


async def realized_entries(conn: AsyncConnection, user_id: uuid.UUID,
                           until: datetime) -> Sequence[RowMapping]:
    """Every fill and journaled trade of the user executed before `until`, per account and
    symbol in the order they executed, each with its charges and whether it is journaled."""
    result = await conn.execute(
        text("SELECT h.*, a.broker, a.currency FROM ("
             " SELECT account_id, symbol, side, quantity, price, commission AS charges,"
             "  executed_at, created_at, id, false AS manual FROM fills"
             "  WHERE user_id = :user_id AND executed_at < :until"
             " UNION ALL"
             " SELECT account_id, symbol, side, quantity, price,"
             "  brokerage_charge + mtf_charge, executed_at, created_at, id, true FROM trades"
             "  WHERE user_id = :user_id AND executed_at < :until) h"
             " JOIN accounts a ON a.id = h.account_id"
             " ORDER BY h.account_id, h.symbol, h.executed_at, h.created_at, h.id"),
        {"user_id": user_id, "until": until})
    return result.mappings().all()
