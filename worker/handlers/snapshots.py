"""End of day: snapshot every account's and every portfolio's equity, cash and P&L.

Celery beat runs this every SNAPSHOT_INTERVAL_SECONDS. An account's day is a trading day of
its exchange (shared.brokers.catalog.session_exchange: NSE for the Indian brokers, NYSE for the
US ones and paper), in that exchange's local date: each run snapshots, per account, the latest
trading day whose session has closed (shared.domain.settlement.last_closed_day), as the books
stand when it runs. A book that has that day's snapshot keeps it (the unique index, ON
CONFLICT DO NOTHING), so later runs store nothing until the next close; weekends and
holidays get none. GET /portfolios/{id}/history and GET /account/history read them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import SESSION_EXCHANGES, session_exchange
from shared.clock import calendar_from, clock_from
from shared.db.repositories import snapshots
from shared.domain.enums import Side
from shared.domain.portfolio import Trade, books, valuation
from shared.domain.positions import Position
from shared.domain.sessions import Calendar
from shared.domain.settlement import last_closed_day
from shared.domain.values import ZERO
from worker.runtime import Runtime

log = logging.getLogger(__name__)


async def snapshot_day(runtime: Runtime, now: datetime | None = None) -> int:
    """Snapshot each account's last closed trading day at `now` (default: the clock's), and
    its portfolios'; returns how many stored."""
    at = now or clock_from(runtime.settings).now()
    days = closed_days(calendar_from(runtime.settings), at)

    async def work(conn: AsyncConnection) -> int:
        rows = _account_rows(await snapshots.accounts(conn), await snapshots.positions(conn))
        rows += _portfolio_rows(await snapshots.portfolio_entries(conn))
        dated = [{**row, "day": days[row.pop("exchange")]} for row in rows]
        return await snapshots.insert(conn, [row for row in dated if row["day"] is not None])

    stored = await runtime.in_transaction(work)
    if stored:
        log.info("stored %d P&L snapshots (%s)", stored, ", ".join(
            f"{exchange} {day.isoformat()}" for exchange, day in sorted(days.items()) if day))
    return stored


def closed_days(calendar: Calendar, at: datetime) -> dict[str, date | None]:
    """The last trading day closed by `at` at each exchange of accounts (None: none within
    a month)."""
    return {exchange: last_closed_day(calendar, exchange, at) for exchange in SESSION_EXCHANGES}


def _account_rows(accounts: Sequence[RowMapping],
                  positions: Sequence[RowMapping]) -> list[dict[str, Any]]:
    held: dict[uuid.UUID, list[tuple[Position, Decimal | None]]] = {}
    for row in positions:
        held.setdefault(row["account_id"], []).append(
            (Position(row["quantity"], row["avg_price"], row["realized_pnl"]), row["mark"]))
    rows = []
    for account in accounts:
        value = valuation(held.get(account["id"], []))
        rows.append({"exchange": session_exchange(account["broker"]),
                     "user_id": account["user_id"], "account_id": account["id"],
                     "portfolio_id": None, "currency": account["currency"],
                     "cash": account["cash"], "equity": account["cash"] + value.market_value,
                     "market_value": value.market_value, "realized_pnl": value.realized_pnl,
                     "unrealized_pnl": value.unrealized_pnl})
    return rows


def _portfolio_rows(entries: Sequence[RowMapping]) -> list[dict[str, Any]]:
    about = {(e["portfolio_id"], e["account_id"], e["symbol"]): e for e in entries}
    held = books(((e["portfolio_id"], e["account_id"], e["symbol"]),
                  Trade(Side(e["side"]), e["quantity"], e["price"], ZERO)) for e in entries)
    grouped: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[Position, Decimal | None]]] = {}
    owner: dict[tuple[uuid.UUID, uuid.UUID], RowMapping] = {}
    for key, book in held.items():
        grouped.setdefault(key[:2], []).append((book.position, about[key]["mark"]))
        owner[key[:2]] = about[key]
    rows = []
    for (portfolio_id, account_id), items in grouped.items():
        first = owner[(portfolio_id, account_id)]
        value = valuation(items)
        rows.append({"exchange": session_exchange(first["broker"]),
                     "user_id": first["user_id"], "account_id": account_id,
                     "portfolio_id": portfolio_id, "currency": first["currency"],
                     "cash": None, "equity": None, "market_value": value.market_value,
                     "realized_pnl": value.realized_pnl,
                     "unrealized_pnl": value.unrealized_pnl})
    return rows

