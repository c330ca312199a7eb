"""A portfolio's P&L history: its end-of-day snapshots (worker/handlers/snapshots.py) over a
period, per account and summed per currency each day.

Each account's days are its exchange's local trading days, so a period ends, per account, at
the last trading day its exchange has closed (shared.domain.settlement.last_closed_day)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.brokers.catalog import SESSION_EXCHANGES, session_exchange
from shared.db.repositories import snapshots
from shared.domain.sessions import Calendar
from shared.domain.settlement import last_closed_day
from shared.messaging.order_view import json_value

Period = Literal["1D", "1W", "1M", "1Y"]
# How many local days a period covers, ending with the last closed trading day: 1D is that day.
DAYS: Final[dict[str, int]] = {"1D": 1, "1W": 7, "1M": 30, "1Y": 365}
_SUMMED = ("market_value", "realized_pnl", "unrealized_pnl", "total_pnl")


def windows(calendar: Calendar, now: datetime, period: Period) -> dict[str, date]:
    """The first day `period` covers at each exchange of accounts, as of `now`."""
    starts = {}
    for exchange in SESSION_EXCHANGES:
        end = last_closed_day(calendar, exchange, now) or now.date()
        starts[exchange] = end - timedelta(days=DAYS[period] - 1)
    return starts


async def history(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID | None,
                  period: Period, calendar: Calendar, now: datetime) -> dict[str, Any]:
    """The portfolio's snapshots (None: every account's own) of the days in `period` as of
    `now`, oldest first."""
    starts = windows(calendar, now, period)
    since = min(starts.values())
    rows = await snapshots.history(conn, user_id, portfolio_id, since)
    items: list[dict[str, Any]] = []
    totals: dict[tuple[date, str], dict[str, Decimal]] = {}
    for row in rows:
        if row["day"] < starts[session_exchange(row["broker"])]:
            continue
        amounts = {"market_value": row["market_value"], "realized_pnl": row["realized_pnl"],
                   "unrealized_pnl": row["unrealized_pnl"],
                   "total_pnl": row["realized_pnl"] + row["unrealized_pnl"]}
        items.append({"day": row["day"].isoformat(), "account_id": str(row["account_id"]),
                      "broker": row["broker"], "currency": row["currency"],
                      **{name: json_value(value) for name, value in amounts.items()}})
        into = totals.setdefault((row["day"], row["currency"]),
                                 dict.fromkeys(_SUMMED, Decimal(0)))
        for name in _SUMMED:
            into[name] += amounts[name]
    return {"period": period, "since": since.isoformat(), "items": items,
            "totals": [{"day": day.isoformat(), "currency": currency,
                        **{name: json_value(value) for name, value in sums.items()}}
                       for (day, currency), sums in sorted(totals.items())]}
