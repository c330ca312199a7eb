"""Market indices: each definition with its constituents, its level from their latest prices
and its change from the previous close (shared.domain.indices computes them)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import RowMapping

from api.deps import CalendarDep, ClockDep, EngineDep, PrincipalDep
from api.market import cursors
from api.pages import PageCursor
from api.responses import READ
from shared.db.repositories import indices
from shared.domain.indices import Constituent, move
from shared.domain.sessions import Calendar
from shared.messaging.order_view import json_value

router = APIRouter()

MAX_INDICES = 100
IndexLimit = Annotated[int, Query(ge=1, le=MAX_INDICES, description="items per page")]


class ConstituentOut(BaseModel):
    """A constituent: its weight, base price, price now and previous close (null if none)."""

    symbol: str
    weight: Decimal
    base_price: Decimal
    price: Decimal | None
    previous_close: Decimal | None


class IndexOut(BaseModel):
    """An index: its level now, at the previous close, and the change between them."""

    code: str
    name: str
    exchange: str
    currency: str
    base_level: Decimal
    level: Decimal | None = Field(description="null while a constituent has no price")
    previous_close: Decimal | None = Field(
        description="the level at the constituents' last ticks before today at the exchange;"
                    " null while one has none")
    change: Decimal | None
    change_pct: Decimal | None = Field(description="percent, 2 places")
    constituents: list[ConstituentOut]


class IndexPage(BaseModel):
    """A page of indices by code; pass `next_cursor` back as `cursor` for the next page."""

    items: list[IndexOut]
    next_cursor: str | None


@router.get("/indices", response_model=IndexPage, responses={**READ, 422: {
    "description": "a bad `limit`, or a `cursor` no page handed out (`invalid_cursor`);"
                   " `details.field` names it"}})
async def list_indices(_: PrincipalDep, engine: EngineDep, clock: ClockDep,
                       calendar: CalendarDep, limit: IndexLimit = 50,
                       cursor: PageCursor = None) -> Response:
    """List the market indices by code, each with its constituents (heaviest first), its
    level from their latest prices (a quote's last, else the latest tick) and its change
    from the previous close (the level at their last ticks before today at the exchange)."""
    after = cursors.decode(cursor, 1)[0] if cursor else None
    now = clock.now()
    async with engine.connect() as conn:
        rows = await indices.list_indices(conn, limit, after)
        starts = {row["code"]: _day_start(calendar, row["exchange"], now) for row in rows}
        members = await indices.constituents(conn, starts) if rows else []
    by_index: dict[str, list[RowMapping]] = defaultdict(list)
    for member in members:
        by_index[member["index_code"]].append(member)
    next_cursor = cursors.encode([rows[-1]["code"]]) if len(rows) == limit else None
    return JSONResponse({"items": [_index(row, by_index[row["code"]]) for row in rows],
                         "next_cursor": next_cursor})


def _day_start(calendar: Calendar, exchange: str, now: datetime) -> datetime:
    if calendar.knows(exchange):
        return calendar.day_start(exchange, now)
    return datetime.combine(now.astimezone(UTC).date(), time(0), UTC)


def _index(row: RowMapping, members: list[RowMapping]) -> dict[str, Any]:
    parts = [Constituent(m["symbol"], m["weight"], m["base_price"]) for m in members]
    moved = move(row["base_level"], parts, {m["symbol"]: m["price"] for m in members},
                 {m["symbol"]: m["previous_close"] for m in members})
    return {
        **{name: json_value(row[name]) for name in ("code", "name", "exchange", "currency",
                                                     "base_level")},
        "level": json_value(moved.level), "previous_close": json_value(moved.previous_close),
        "change": json_value(moved.change), "change_pct": json_value(moved.change_pct),
        "constituents": [{name: json_value(m[name]) for name in ConstituentOut.model_fields}
                         for m in members]}
