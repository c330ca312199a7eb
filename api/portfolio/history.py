"""A portfolio's P&L history: its end-of-day snapshots (worker/handlers/snapshots.py) over a
period, per account and summed per currency each day."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db.repositories import snapshots
from shared.messaging.order_view import json_value

Period = Literal["1D", "1W", "1M", "1Y"]
# How many UTC days back a period reaches from today: 1D is the last day snapshotted.
DAYS: Final[dict[str, int]] = {"1D": 1, "1W": 7, "1M": 30, "1Y": 365}
_SUMMED = ("market_value", "realized_pnl", "unrealized_pnl", "total_pnl")


async def history(conn: AsyncConnection, user_id: uuid.UUID, portfolio_id: uuid.UUID,
                  period: Period, today: date) -> dict[str, Any]:
    """The portfolio's snapshots of the days in `period` before `today`, oldest first."""
    since = today - timedelta(days=DAYS[period])
    rows = await snapshots.history(conn, user_id, portfolio_id, since)
    items: list[dict[str, Any]] = []
    totals: dict[tuple[date, str], dict[str, Decimal]] = {}
    for row in rows:
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
