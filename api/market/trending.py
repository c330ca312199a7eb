"""Trending symbols: top gainers, losers and most traded, from recorded ticks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CalendarDep, EngineDep, PrincipalDep
from api.responses import READ
from shared.db.repositories import trending
from shared.db.repositories.trending import Kind
from shared.messaging.order_view import json_value

router = APIRouter()

MAX_TRENDING = 50


class TrendingOut(BaseModel):
    """A symbol's latest day of ticks: its last price and its change over the day."""

    symbol: str
    name: str
    exchange: str
    currency: str
    day: date = Field(description="the local day (at the exchange) of its latest tick")
    last_tick_at: datetime
    last: Decimal
    open: Decimal = Field(description="the day's first tick")
    previous_close: Decimal | None = Field(description="the last tick before the day")
    change: Decimal = Field(description="from the previous close, else from the open")
    change_pct: Decimal = Field(description="percent, 2 places")
    volume: Decimal = Field(description="the day's sum of `ltq`")
    ticks: int


class TrendingList(BaseModel):
    """The top symbols of a kind, best first."""

    kind: Kind
    items: list[TrendingOut]


@router.get("/trending", response_model=TrendingList, responses={**READ, 422: {
    "description": "an unknown `kind` or a bad `limit` (`details.field`)"}})
async def list_trending(
    _: PrincipalDep, engine: EngineDep, calendar: CalendarDep,
    kind: Annotated[Kind, Query(description="gainers and losers by `change_pct`, active by "
                                            "`volume`")],
    limit: Annotated[int, Query(ge=1, le=MAX_TRENDING, description="how many")] = 10,
) -> Response:
    """List the top gainers, losers or most traded symbols, each on its latest day of
    recorded ticks (the import's, or a replay's source): the change is from the previous
    close (the last tick before that day), else from the day's first tick."""
    zones = {name: hours.zone for name, hours in calendar.hours.items()}
    async with engine.connect() as conn:
        rows = await trending.trending(conn, kind, zones, limit)
    return JSONResponse({"kind": kind.value, "items": [
        {"symbol": row["symbol"], "name": row["name"], "exchange": row["exchange"],
         "currency": row["currency"], "day": row["day"].isoformat(),
         "last_tick_at": json_value(row["last_ts"]),
         **{name: json_value(row[name]) for name in ("last", "open", "previous_close",
                                                      "change", "change_pct", "volume",
                                                      "ticks")}}
        for row in rows]})
