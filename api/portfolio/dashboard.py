"""GET /dashboard: every account of the caller at a glance, in its own currency."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import RowMapping

from api.accounts.router import account_view, position_view
from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.portfolio.schemas import Dashboard
from api.portfolio.sums import per_currency
from api.responses import READ
from shared.clock import clock_from
from shared.db.repositories import accounts, dashboard
from shared.domain.enums import Side
from shared.domain.portfolio import Trade, day_pnl, day_start
from shared.messaging.order_view import json_value

router = APIRouter(tags=["portfolio"])

_FILL_FIELDS = ("id", "order_id", "symbol", "side", "quantity", "price", "charges",
                "executed_at")
_TOTALLED = ("cash", "equity", "realized_pnl", "unrealized_pnl", "total_pnl", "day_pnl")


def _trade(row: RowMapping) -> Trade:
    return Trade(Side(row["side"]), row["quantity"], row["price"], row["charges"])


def _account(account: RowMapping, positions: Sequence[RowMapping],
             fills: Sequence[RowMapping], open_orders: int) -> dict[str, Any]:
    marks = {row["symbol"]: row["mark"] for row in positions}
    today: dict[str, list[Trade]] = defaultdict(list)
    for row in fills:
        if row["kind"] == "day":
            today[row["symbol"]].append(_trade(row))
    day = sum((day_pnl(trades, marks.get(symbol)) for symbol, trades in today.items()),
              Decimal(0))
    view = account_view(account, positions)
    realized, unrealized = Decimal(view["realized_pnl"]), Decimal(view["unrealized_pnl"])
    return {**view, "reserved_cash": json_value(account["reserved_cash"]),
            "total_pnl": json_value(realized + unrealized), "day_pnl": json_value(day),
            "open_orders": open_orders,
            "exposure": [position_view(row) for row in positions if row["quantity"] != 0],
            "last_fills": [{name: json_value(row[name]) for name in _FILL_FIELDS}
                           for row in fills if row["kind"] == "last"]}


@router.get("/dashboard", response_model=Dashboard, responses=READ)
async def get_dashboard(principal: PrincipalDep, engine: EngineDep,
                        settings: SettingsDep) -> JSONResponse:
    """Every account of yours: cash, equity, P&L of the day and in all, exposure by symbol,
    open orders and the last fills; and the sums per currency (never across currencies)."""
    async with engine.connect() as conn:
        owned = await dashboard.accounts_of(conn, principal.user_id)
        zone = owned[0]["timezone"] if owned else "UTC"
        since = day_start(clock_from(settings).now(), zone)
        positions = await accounts.positions_for_user(conn, principal.user_id)
        orders = await dashboard.open_orders(conn, principal.user_id)
        fills = await dashboard.fills_of(conn, principal.user_id, [a["id"] for a in owned],
                                         since)
    by_account: dict[uuid.UUID, list[RowMapping]] = defaultdict(list)
    for row in positions:
        by_account[row["account_id"]].append(row)
    fills_by: dict[uuid.UUID, list[RowMapping]] = defaultdict(list)
    for row in fills:
        fills_by[row["account_id"]].append(row)
    views = [_account(a, by_account[a["id"]], fills_by[a["id"]], orders.get(a["id"], 0))
             for a in owned]
    return JSONResponse({"day_start": since.isoformat(), "timezone": zone,
                         "accounts": views, "totals": per_currency(views, _TOTALLED)})
