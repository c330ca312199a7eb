"""Recorded market data routes: tickers with ticks, a symbol's ticks, OHLC bars."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from api.deps import AutocommitEngineDep, CalendarDep, EngineDep, PrincipalDep
from api.market import cursors
from api.query import IsoAwareDatetime, IsoDate
from api.responses import READ, Responses
from shared.db.repositories import ticks
from shared.domain.bars import (
    MAX_RANGE,
    STEP,
    Interval,
    InvalidMarketQuery,
    bar_origin,
    check_range,
)
from shared.domain.errors import NotFound
from shared.domain.sessions import Calendar
from shared.market.instrument_files import MAX_SYMBOL
from shared.messaging.order_view import json_value

router = APIRouter()

MAX_PAGE = 1000
# Far enough either side of any recorded tick: an open range reads the whole series.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=400,
                                     description="`next_cursor` of the previous page")]


class TickOut(BaseModel):
    """One recorded tick; prices are decimal strings."""

    ts: datetime
    ltp: Decimal
    ltq: int
    buyprice: Decimal
    buyqty: int
    sellprice: Decimal
    sellqty: int
    openinterest: int


class TickerOut(BaseModel):
    """A symbol with recorded ticks: their first and last instants, count and the latest."""

    symbol: str
    name: str
    exchange: str
    currency: str
    first_tick_at: datetime
    last_tick_at: datetime
    tick_count: int
    latest: TickOut


class TickerPage(BaseModel):
    """A page of tickers by symbol; pass `next_cursor` back as `cursor` for the next page."""

    items: list[TickerOut]
    next_cursor: str | None


class TickPage(BaseModel):
    """A page of a symbol's ticks, oldest first; pass `next_cursor` back as `cursor`."""

    symbol: str
    items: list[TickOut]
    next_cursor: str | None


class BarOut(BaseModel):
    """One OHLC bar, labelled with the start of its interval."""

    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Field(description="the sum of the ticks' `ltq`")
    ticks: int


class OhlcOut(BaseModel):
    """A symbol's bars, oldest first; intervals without ticks have no bar."""

    symbol: str
    interval: Interval
    bars: list[BarOut]


_INVALID: Responses = {**READ, 422: {
    "description": "a bad parameter, or a `cursor` no page handed out (`invalid_cursor`);"
                   " `details.field` names it"}}
_UNKNOWN: Responses = {404: {"description": "the symbol is not in the instrument master"}}


def _tick_cursor(cursor: str) -> ticks.TickCursor:
    ts, *prices_and_sizes = cursors.decode(cursor, len(ticks.TICK_KEY))
    try:
        at = datetime.fromisoformat(ts)
        ltp, ltq, buyprice, buyqty, sellprice, sellqty, oi = prices_and_sizes
        return (at, Decimal(ltp), int(ltq), Decimal(buyprice), int(buyqty), Decimal(sellprice),
                int(sellqty), int(oi))
    except (ArithmeticError, ValueError):
        raise cursors.invalid_cursor() from None


def _tick(row: Any, prefix: str = "") -> dict[str, Any]:
    return {name: json_value(row[prefix + name]) for name in ticks.TICK_KEY}


async def _exchange(conn: AsyncConnection, symbol: str) -> str:
    exchange = (await ticks.exchanges_of(conn, [symbol])).get(symbol)
    if exchange is None:
        raise NotFound(f"unknown symbol {symbol}", details={"field": "symbol"})
    return exchange


@router.get("/tickers", response_model=TickerPage, responses=_INVALID)
async def list_tickers(
    _: PrincipalDep, engine: EngineDep,
    q: Annotated[str | None, Query(min_length=1, max_length=64,
                                   description="the start of a symbol or a name")] = None,
    start_date: Annotated[IsoDate | None, Query(description="only symbols with ticks on or "
                                                         "after this day (UTC)")] = None,
    end_date: Annotated[IsoDate | None, Query(description="only symbols with ticks on or "
                                                       "before this day (UTC)")] = None,
    limit: Limit = 100, cursor: Cursor = None,
) -> Response:
    """List the symbols with recorded ticks, by symbol: their first and last tick, how many,
    and the latest one."""
    if start_date and end_date and end_date < start_date:
        raise InvalidMarketQuery("start_date must be on or before end_date",
                                 details={"field": "end_date"})
    match = ticks.TickerFilter(
        prefix=q.strip() or None if q else None,
        since=datetime.combine(start_date, time(0), UTC) if start_date else None,
        until=datetime.combine(end_date + timedelta(days=1), time(0), UTC) if end_date else None)
    after = cursors.decode(cursor, 1)[0] if cursor else None
    async with engine.connect() as conn:
        rows = await ticks.list_tickers(conn, match, limit, after)
    items = [{"symbol": row["symbol"], "name": row["name"], "exchange": row["exchange"],
              "currency": row["currency"], "first_tick_at": json_value(row["first_ts"]),
              "last_tick_at": json_value(row["last_ts"]), "tick_count": row["tick_count"],
              "latest": _tick(row)} for row in rows]
    next_cursor = cursors.encode([rows[-1]["symbol"]]) if len(rows) == limit else None
    return JSONResponse({"items": items, "next_cursor": next_cursor})


@router.get("/tickers/{symbol}/ticks", response_model=TickPage,
            responses={**_INVALID, **_UNKNOWN})
async def list_ticks(
    symbol: str, _: PrincipalDep, engine: EngineDep,
    start: Annotated[IsoAwareDatetime | None, Query(description="from this instant (included)")]
    = None,
    end: Annotated[IsoAwareDatetime | None, Query(description="to this instant (excluded)")]
    = None,
    limit: Limit = 500, cursor: Cursor = None,
) -> Response:
    """List a symbol's recorded ticks in [start, end), oldest first."""
    symbol = symbol.upper()
    start, end = start or _EARLIEST, end or _LATEST
    if not start < end:
        raise InvalidMarketQuery("start must be before end", details={"field": "end"})
    after = _tick_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        await _exchange(conn, symbol)
        rows = await ticks.list_ticks(conn, symbol, start, end, limit, after)
    next_cursor = (cursors.encode([str(json_value(rows[-1][name])) for name in ticks.TICK_KEY])
                   if len(rows) == limit else None)
    return JSONResponse({"symbol": symbol, "items": [_tick(row) for row in rows],
                         "next_cursor": next_cursor})


@router.get("/ohlc", response_model=OhlcOut, responses={**_INVALID, **_UNKNOWN, 422: {
    "description": "a bad parameter (`details.field`): an unknown interval, start not before "
                   "end, or a range longer than the interval allows (`range_too_long`: 7 days "
                   "of 1m, 31 of 5m and 15m, 92 of 1h, 366 of 1d)"}})
async def get_ohlc(
    _: PrincipalDep, engine: AutocommitEngineDep, calendar: CalendarDep,
    symbol: Annotated[str, Query(min_length=1, max_length=MAX_SYMBOL)],
    interval: Annotated[Interval, Query(description="the length of a bar")],
    start: Annotated[IsoAwareDatetime, Query(description="from this instant (included)")],
    end: Annotated[IsoAwareDatetime, Query(description="to this instant (excluded)")],
) -> Response:
    """Aggregate a symbol's ticks into OHLC bars: open and close are the first and last trade
    by time, volume the sum of `ltq`. Bars start at the exchange's session open (09:15 at NSE,
    09:30 in New York), every `interval` from there."""
    check_range(start, end, MAX_RANGE[interval], f"{interval.value} bars")
    symbol = symbol.upper()
    async with engine.connect() as conn:
        exchange = await _exchange(conn, symbol)
        bars = await ticks.ohlc_json(conn, symbol, STEP[interval],
                                     _origin(calendar, exchange, start), start, end)
    head = json.dumps({"symbol": symbol, "interval": interval.value})
    return Response(f'{head[:-1]}, "bars": {bars}}}', media_type="application/json")


def _origin(calendar: Calendar, exchange: str, start: datetime) -> datetime:
    if not calendar.knows(exchange):
        return bar_origin(start, None, None)
    hours = calendar.hours[exchange.upper()]
    return bar_origin(start, hours.zone, hours.open)
