"""End of day: roll positions into holdings, once per exchange and trading day.

Celery beat runs this every SETTLEMENT_INTERVAL_SECONDS. For each exchange of the calendar it
takes the latest trading day whose session has closed; the first run that records it in
settlement_runs settles it (a later run of the same day finds the row and does nothing), in
the transaction that writes the holdings: a failure leaves the day to the next run. Holdings
are folds of every fill and journaled trade before the day's end (shared.domain.settlement),
per account and symbol and per portfolio, so a missed day is caught up by the next one.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import calendar_from, clock_from
from shared.db.repositories import holdings as repo
from shared.domain.enums import Side
from shared.domain.portfolio import Trade
from shared.domain.sessions import Calendar
from shared.domain.settlement import (
    holdings,
    last_closed_day,
    settlement_days,
    unsettled_since,
)
from shared.domain.values import ZERO
from worker.runtime import Runtime

log = logging.getLogger(__name__)
Book = tuple[uuid.UUID, uuid.UUID | None, str]  # account, portfolio (None: the account's), symbol


async def settle_due(runtime: Runtime, now: datetime | None = None) -> dict[str, str]:
    """Settle each exchange's latest closed trading day not settled yet; returns the days
    settled now, by exchange."""
    at = now or clock_from(runtime.settings).now()
    calendar = calendar_from(runtime.settings)
    settled: dict[str, str] = {}
    for exchange in sorted(calendar.hours):
        day = last_closed_day(calendar, exchange, at)
        if day is None:
            continue
        work = functools.partial(_settle, calendar=calendar, exchange=exchange, day=day,
                                 days=settlement_days(exchange, runtime.settings.settlement_days))
        count = await runtime.in_transaction(work)
        if count is not None:
            settled[exchange] = day.isoformat()
            log.info("settled %s %s: %d holdings", exchange, day.isoformat(), count)
    return settled


async def _settle(conn: AsyncConnection, *, calendar: Calendar, exchange: str, day: date,
                  days: int) -> int | None:
    """Write `exchange`'s holdings as of the end of `day`; None if that day was settled."""
    if not await repo.start_run(conn, exchange, day):
        return None
    zone = ZoneInfo(calendar.hours[exchange].zone)
    until = datetime.combine(day + timedelta(days=1), time(), zone)
    since = datetime.combine(unsettled_since(calendar, exchange, day, days), time(), zone)
    entries = await repo.entries(conn, exchange, until, since)
    rows = _rows(entries, day)
    await repo.replace(conn, exchange, rows)
    return len(rows)


def _rows(entries: Sequence[RowMapping], day: date) -> list[dict[str, Any]]:
    """The holdings rows: each entry counts in its account's book and, if it names one, in
    its portfolio's."""
    owners: dict[Book, uuid.UUID] = {}
    keyed: list[tuple[Book, Trade, bool]] = []
    for entry in entries:
        trade = Trade(Side(entry["side"]), entry["quantity"], entry["price"], ZERO)
        for portfolio_id in {None, entry["portfolio_id"]}:
            key = (entry["account_id"], portfolio_id, entry["symbol"])
            owners[key] = entry["user_id"]
            keyed.append((key, trade, entry["unsettled"]))
    return [{"user_id": owners[key], "account_id": key[0], "portfolio_id": key[1],
             "symbol": key[2], "quantity": held.quantity, "t1_quantity": held.t1_quantity,
             "avg_price": held.avg_price, "trading_day": day}
            for key, held in holdings(keyed).items()]
