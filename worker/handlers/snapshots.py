"""End of day: snapshot every account's and every portfolio's equity, cash and P&L.

Celery beat runs this every SNAPSHOT_INTERVAL_SECONDS. Each run snapshots the UTC day that
ended last (yesterday), as the books stand when it runs; a book that has that day's snapshot
keeps it (the unique index, ON CONFLICT DO NOTHING), so a second run of the day stores
nothing. GET /portfolios/{id}/history reads them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import clock_from
from shared.db.repositories import snapshots
from shared.domain.enums import Side
from shared.domain.portfolio import Trade, books, valuation
from shared.domain.positions import Position
from shared.domain.values import ZERO
from worker.runtime import Runtime

log = logging.getLogger(__name__)


async def snapshot_day(runtime: Runtime, now: datetime | None = None) -> int:
    """Snapshot the UTC day before `now` (default: the clock's); returns how many stored."""
    at = now or clock_from(runtime.settings).now()
    day = previous_day(at)

    async def work(conn: AsyncConnection) -> int:
        rows = _account_rows(await snapshots.accounts(conn), await snapshots.positions(conn))
        rows += _portfolio_rows(await snapshots.portfolio_entries(conn))
        return await snapshots.insert(conn, day, rows)

    stored = await runtime.in_transaction(work)
    if stored:
        log.info("stored %d P&L snapshots of %s", stored, day.isoformat())
    return stored


def _account_rows(accounts: Sequence[RowMapping],
                  positions: Sequence[RowMapping]) -> list[dict[str, Any]]:
    held: dict[uuid.UUID, list[tuple[Position, Decimal | None]]] = {}
    for row in positions:
        held.setdefault(row["account_id"], []).append(
            (Position(row["quantity"], row["avg_price"], row["realized_pnl"]), row["mark"]))
    rows = []
    for account in accounts:
        value = valuation(held.get(account["id"], []))
        rows.append({"user_id": account["user_id"], "account_id": account["id"],
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
        rows.append({"user_id": first["user_id"], "account_id": account_id,
                     "portfolio_id": portfolio_id, "currency": first["currency"],
                     "cash": None, "equity": None, "market_value": value.market_value,
                     "realized_pnl": value.realized_pnl,
                     "unrealized_pnl": value.unrealized_pnl})
    return rows


def previous_day(at: datetime) -> date:
    """The UTC day that ended last before `at`."""
    return at.astimezone(UTC).date() - timedelta(days=1)
