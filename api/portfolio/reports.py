"""GET /reports/pnl: realized P&L per account and symbol over a period, with charges."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import RowMapping

from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.portfolio.periods import require_order, require_zones
from api.portfolio.schemas import PnlReport
from api.portfolio.sums import per_currency
from api.query import IsoDatetime
from api.responses import READ
from shared.clock import clock_from
from shared.db.repositories import trades
from shared.domain.enums import Side
from shared.domain.portfolio import Trade, realized_inside
from shared.messaging.order_view import json_value

router = APIRouter(prefix="/reports", tags=["portfolio"])

CSV_COLUMNS = ("account_id", "broker", "currency", "symbol", "trades", "realized_pnl",
               "charges", "net_pnl")


def report_rows(entries: Sequence[RowMapping], since: datetime | None) -> list[dict[str, Any]]:
    """One row per (account, symbol) with a fill or trade in the period."""
    rows = []
    for (account_id, symbol), group in groupby(entries,
                                               key=lambda e: (e["account_id"], e["symbol"])):
        items = list(group)
        period = realized_inside(
            [Trade(Side(e["side"]), e["quantity"], e["price"], e["charges"]) for e in items],
            [since is None or e["executed_at"] >= since for e in items])
        if period.trades:
            rows.append({"account_id": str(account_id), "broker": items[0]["broker"],
                         "currency": items[0]["currency"], "symbol": symbol,
                         "trades": period.trades,
                         "realized_pnl": json_value(period.realized_pnl),
                         "charges": json_value(period.charges),
                         "net_pnl": json_value(period.net_pnl)})
    return rows


@router.get("/pnl", response_model=PnlReport,
            responses={**READ,
                       200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON, or with format=csv one line per row"},
                       422: {"description": "`from` after `to`, a time without its zone, or "
                                            "an unknown format (`details.field`)"}})
async def pnl_report(
    principal: PrincipalDep, engine: EngineDep, settings: SettingsDep,
    since: Annotated[IsoDatetime | None, Query(alias="from", description="executed at or after "
                                                                      "this instant")] = None,
    until: Annotated[IsoDatetime | None, Query(alias="to", description="executed before this "
                                                                    "instant; default now")] = None,
    report_format: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Realized P&L per account and symbol of the fills and journaled trades executed in the
    period, on the average cost built by every trade before them, with their charges (the
    fills' commission, the journal's brokerage and MTF charges) and the net."""
    require_zones(**{"from": since, "to": until})
    until = until or clock_from(settings).now()
    require_order(since, until)
    async with engine.connect() as conn:
        entries = await trades.realized_entries(conn, principal.user_id, until)
    rows = report_rows(entries, since)
    if report_format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="pnl.csv"'})
    return JSONResponse({"from": json_value(since), "to": json_value(until), "items": rows,
                         "totals": per_currency(rows, CSV_COLUMNS[5:])})
