"""Trending symbols: top gainers, losers and most traded, from recorded ticks."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import RowMapping

from api.deps import AutocommitEngineDep, CalendarDep, PrincipalDep
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
    request: Request, _: PrincipalDep, engine: AutocommitEngineDep, calendar: CalendarDep,
    kind: Annotated[Kind, Query(description="gainers and losers by `change_pct`, active by "
                                            "`volume`")],
    limit: Annotated[int, Query(ge=1, le=MAX_TRENDING, description="how many")] = 10,
) -> Response:
    """List the top gainers, losers or most traded symbols, each on its latest day of
    recorded ticks (the import's, or a replay's source): the change is from the previous
    close (the last tick before that day), else from the day's first tick."""
    zones = {name: hours.zone for name, hours in calendar.hours.items()}
    cache: TrendingCache = request.app.state.trending
    async with engine.connect() as conn:
        # Read before the lists, so that no list is kept under a newer count than its own.
        recorded = await trending.ticks_recorded(conn)
        bodies = cache.get(limit, recorded)
        if bodies is None:
            lists = await trending.trending(conn, zones, limit)
            bodies = {each: _body(each, rows) for each, rows in lists.items()}
            cache.put(limit, recorded, bodies)
    return Response(bodies[kind], media_type="application/json")


def _body(kind: Kind, rows: Sequence[RowMapping]) -> bytes:
    return json.dumps({"kind": kind.value, "items": [
        {"symbol": row["symbol"], "name": row["name"], "exchange": row["exchange"],
         "currency": row["currency"], "day": row["day"].isoformat(),
         "last_tick_at": json_value(row["last_ts"]),
         **{name: json_value(row[name]) for name in ("last", "open", "previous_close",
                                                      "change", "change_pct", "volume",
                                                      "ticks")}}
        for row in rows]}, ensure_ascii=False, separators=(",", ":")).encode()


class TrendingCache:
    """The lists this process last answered, per length, all three kinds made together and
    kept while no import has added ticks since (`trending.ticks_recorded`) and for at most
    `ttl` seconds, which bounds how long a renamed instrument keeps its old name here (as
    InstrumentCache does).

    The lists cost some 15 ms of PostgreSQL at data scale (a day of 1-minute bars per symbol,
    shared by the three), and ticks arrive by the import only: between imports every request
    asked the same.
    """

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._lists: dict[int, tuple[tuple[int, int], float, dict[Kind, bytes]]] = {}

    def get(self, limit: int, recorded: tuple[int, int]) -> dict[Kind, bytes] | None:
        """The answers of every kind if they were made with these ticks recorded, recently
        enough."""
        kept = self._lists.get(limit)
        if kept is None or kept[0] != recorded or time.monotonic() - kept[1] > self._ttl:
            return None
        return kept[2]

    def put(self, limit: int, recorded: tuple[int, int], bodies: dict[Kind, bytes]) -> None:
        """Keep the answers made with these ticks recorded (at most MAX_TRENDING lengths)."""
        self._lists[limit] = (recorded, time.monotonic(), bodies)
