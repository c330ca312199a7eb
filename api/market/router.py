"""Market data routes: the instrument universe, its search, current quotes, and (from
api.market.ticks) recorded ticks and OHLC bars."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import EngineDep, PrincipalDep
from api.market import cursors, indices, news, ticks, trending
from api.market.service import parse_symbols
from api.pages import Limit, PageCursor
from api.responses import READ
from shared.db.repositories import market
from shared.domain.errors import NotFound
from shared.messaging.order_view import json_value

router = APIRouter(prefix="/market", tags=["market"])

MAX_SEARCH_RESULTS = 50
MAX_QUOTE_SYMBOLS = 100


class QuoteOut(BaseModel):
    """The current quote of a symbol."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    ts: datetime


class SymbolOut(BaseModel):
    """A tradable instrument."""

    symbol: str
    name: str
    exchange: str
    currency: str
    tick_size: Decimal
    lot_size: Decimal


class SymbolPage(BaseModel):
    """A page of instruments by symbol; pass `next_cursor` back as `cursor` for the next."""

    items: list[SymbolOut]
    next_cursor: str | None


class FoundInstrument(SymbolOut):
    """An instrument a search found, with its market segment (NFO-FUT, ...) when known."""

    segment: str | None


class QuotesOut(BaseModel):
    """The quotes of the symbols asked for, in their order, and those without a quote."""

    quotes: list[QuoteOut]
    missing: list[str]


@router.get("/quotes/{symbol}", response_model=QuoteOut,
            responses={404: {"description": "unknown symbol"}})
async def get_quote(symbol: str, _: PrincipalDep, engine: EngineDep) -> Response:
    """Return the current bid, ask and last price of a symbol."""
    async with engine.connect() as conn:
        row = await market.get_quote(conn, symbol.upper())
    if row is None:
        raise NotFound(f"unknown symbol {symbol}", details={"field": "symbol"})
    return JSONResponse({key: json_value(value) for key, value in row.items()})


@router.get("/symbols", response_model=SymbolPage,
            responses={**READ, 422: {"description": "a bad `limit`, or a `cursor` no page"
                                                     " handed out (`invalid_cursor`);"
                                                     " `details.field` names it"}})
async def list_symbols(_: PrincipalDep, engine: EngineDep, limit: Limit = 100,
                       cursor: PageCursor = None) -> Response:
    """List the tradable instruments by symbol, a page at a time."""
    after = cursors.decode(cursor, 1)[0] if cursor else None
    async with engine.connect() as conn:
        rows = await market.list_symbols(conn, limit, after)
    next_cursor = cursors.encode([rows[-1]["symbol"]]) if len(rows) == limit else None
    return JSONResponse({"items": [{k: json_value(v) for k, v in row.items()} for row in rows],
                         "next_cursor": next_cursor})


@router.get("/search", response_model=list[FoundInstrument],
            responses={**READ, 422: {"description": "`q` empty or longer than 64 characters,"
                                                     " or a bad `limit` (`details.field`)"}})
async def search(_: PrincipalDep, engine: EngineDep,
                 q: Annotated[str, Query(min_length=1, max_length=64,
                                         description="a symbol or name, or their start")],
                 limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS)] = 20) -> Response:
    """Find instruments by symbol or name: the exact symbol first, then symbols and names
    starting with `q`, then names with a word starting with it, then any containing it (3
    characters or more); shorter symbols first within each."""
    async with engine.connect() as conn:
        rows = await market.search_instruments(conn, q.strip(), limit)
    return JSONResponse([{k: json_value(v) for k, v in row.items()} for row in rows])


@router.get("/quotes", response_model=QuotesOut,
            responses={**READ, 422: {"description": "no symbol, more than 100 symbols"
                                                     " (`too_many_symbols`), or one too long;"
                                                     " `details.field` is `symbols`"}})
async def get_quotes(_: PrincipalDep, engine: EngineDep,
                     symbols: Annotated[str, Query(max_length=4000, description=(
                         "comma-separated symbols, at most 100 (repeats count once)"))],
                     ) -> Response:
    """Return the current quotes of many symbols in one call; unknown or unquoted symbols are
    listed in `missing`."""
    names = parse_symbols(symbols, MAX_QUOTE_SYMBOLS)
    async with engine.connect() as conn:
        found = await market.get_quotes(conn, names)
    return JSONResponse({
        "quotes": [{k: json_value(v) for k, v in found[name].items()}
                   for name in names if name in found],
        "missing": [name for name in names if name not in found]})


router.include_router(ticks.router)
router.include_router(indices.router)
router.include_router(trending.router)
router.include_router(news.router)
